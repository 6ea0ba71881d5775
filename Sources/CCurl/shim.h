#ifndef OTA_CCURL_SHIM_H
#define OTA_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are C variadic functions, which Swift cannot call.
// One typed wrapper per argument type makes every option reachable.

static inline CURLcode ota_curl_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode ota_curl_setopt_off(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode ota_curl_setopt_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode ota_curl_setopt_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode ota_curl_setopt_slist(CURL *curl, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(curl, option, value);
}

typedef size_t (*ota_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);
typedef int (*ota_curl_progress_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                          curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode ota_curl_setopt_data_callback(CURL *curl, CURLoption option, ota_curl_data_callback cb) {
    return curl_easy_setopt(curl, option, cb);
}

static inline CURLcode ota_curl_setopt_progress_callback(CURL *curl, ota_curl_progress_callback cb) {
    return curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cb);
}

static inline CURLcode ota_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

static inline CURLcode ota_curl_getinfo_off(CURL *curl, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(curl, info, value);
}

#endif
