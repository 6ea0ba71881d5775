# Starts nginx (sourced by benchmarks): one worker, sendfile, serving $1 on a free port.
start_nginx() {
  local root=$1
  NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $OUT/nginx/error.log;
pid $OUT/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/json json; application/octet-stream bin; }
  client_body_temp_path $OUT/nginx; proxy_temp_path $OUT/nginx; fastcgi_temp_path $OUT/nginx; uwsgi_temp_path $OUT/nginx; scgi_temp_path $OUT/nginx;
  server { listen 127.0.0.1:$NGINX_PORT; root $root; }
}
CONF
  /usr/sbin/nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && return 0; sleep 0.1; done
  echo "nginx did not start" >&2; return 1
}
