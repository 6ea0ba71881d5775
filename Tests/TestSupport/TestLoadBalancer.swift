import Foundation

/// nginx in front of several `ota-server` instances on 127.0.0.1, as an operator would run
/// it: round robin, a request that cannot reach an instance goes to the next one.
public final class TestLoadBalancer: @unchecked Sendable {
    public let dir = TemporaryDirectory("nginx")
    public let url: String

    public init(upstreamPorts: [Int]) throws {
        let port = try TestObjectStore.freePort()
        url = "http://127.0.0.1:\(port)"
        let root = dir.path
        let servers = upstreamPorts.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(separator: "\n")
        let configuration = """
            worker_processes 1;
            pid \(root)/nginx.pid;
            error_log \(root)/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(root)/body;
                proxy_temp_path \(root)/proxy;
                fastcgi_temp_path \(root)/fastcgi;
                uwsgi_temp_path \(root)/uwsgi;
                scgi_temp_path \(root)/scgi;
                client_max_body_size 0;
                upstream ota {
            \(servers)
                    keepalive 32;
                }
                server {
                    listen 127.0.0.1:\(port);
                    location / {
                        proxy_pass http://ota;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $http_host;
                        proxy_buffering off;
                        proxy_connect_timeout 2s;
                        proxy_read_timeout 60s;
                        # An instance killed mid-request: the request goes to the next one (device
                        # requests are safe to repeat: events are idempotent, check-ins too).
                        proxy_next_upstream error timeout non_idempotent;
                        proxy_next_upstream_tries 3;
                    }
                }
            }
            """
        _ = try dir.write("nginx.conf", configuration)
        // nginx runs as the daemon it is (a master that a child of the test process would
        // lose track of), with no pipe of ours; `deinit` stops it by its pid file.
        // The daemon must not keep a descriptor of ours open (a pipe would never see its end).
        let script = #"for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done; exec /usr/sbin/nginx -p "$1" -c "$1/nginx.conf" </dev/null >/dev/null 2>&1"#
        let started = try run("/bin/bash", ["-c", script, "bash", root])
        guard started.status == 0 else { throw TestFailure("nginx did not start: \((try? String(contentsOfFile: dir.file("error.log"), encoding: .utf8)) ?? "")") }
        try eventually(timeout: 10, "nginx to listen on \(port)") {
            (try? TestObjectStore.fetch(url + "/healthz").status) != nil
        }
    }

    deinit {
        guard let text = try? String(contentsOfFile: dir.file("nginx.pid"), encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        // The master stops its workers on SIGTERM; wait for it so the port is free again.
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
        kill(pid, SIGKILL)
    }
}
