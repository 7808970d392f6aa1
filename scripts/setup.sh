#!/usr/bin/env bash
# Install what bluegreen, its sandbox fleet and its tests need on Debian/Ubuntu (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssh-server nginx libnginx-mod-http-js busybox-static tini iproute2 util-linux
          procps docker.io git python3 python3-venv curl ca-certificates
          sudo iptables  # the non-root login and the partition tests
          ufw  # bootstrap opens the public port in an active ufw (bootstrap test)
          wrk valgrind  # the benchmark: nginx-bound throughput, instructions per request
          docker-registry skopeo apache2-utils  # the image-source tests (registry, htpasswd)
          dnf rpm createrepo-c  # dnf, rpmbuild, createrepo_c: the Amazon Linux 2023 bootstrap test
          sqlite3  # copied into the lifecycle test app's image: its release command's database
          openssl pebble certbot dnsmasq-base  # HTTPS: a test ACME server, its client, a DNS
          prometheus prometheus-node-exporter mtail  # metrics: Prometheus (+ promtool), exporters
          debootstrap systemd-container  # runtime: process: sandbox hosts booting a real systemd
          haproxy  # a real load balancer in front of the sandbox hosts (balancer drain test)
          redis-server  # app.processes: the job queue the workers e2e test consumes
          nodejs)  # the Node example (example-node/): build: local runs npm ci on this machine
# npm for that npm ci: Debian's package, unless a nodejs that brings its own (NodeSource) is here
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Package scripts may start system-wide daemons; the sandbox runs its own per host.

if [ ! -x .venv/bin/fab ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
