#!/bin/sh
# Init of one sandbox host (see bluegreen/sandbox.py).
#
# Runs as the only child of tini, which is PID 1 of the host's own pid
# namespace, inside the host's network namespace and its own uts and mount
# namespaces. It makes the host look like a small real server: own hostname,
# private /run, /tmp and /dev/shm, per-host directories (and files, such as
# /etc/os-release) over the paths listed in HOST_DIR/mounts, then starts sshd
# and, unless HOST_DIR/bare exists, nginx and dockerd, and waits forever (when
# this script exits, tini exits and the kernel ends the host).
#
# Usage: host-init.sh NAME HOST_DIR NETNS  (NETNS also names the containers' cgroup parent)
set -eu
name=$1
dir=$2
netns=$3

hostname "$name"

# The project (this host's directory and the sandbox's files among it) must stay
# reachable at its real path even when it lies under /tmp, which is covered below.
project=$(cd "$dir/../../.." && pwd)
mount --bind "$project" /mnt

# Private /run: nginx.pid, docker.sock, /run/sshd and containerd's socket are
# per host, so `nginx -s reload` and `docker ps` work with no flags.
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
if [ ! -d "$dir" ]; then
    mkdir -p "$project"
    mount --bind /mnt "$project"
fi
umount /mnt
mkdir -p /run/sshd /run/lock
chmod 1777 /run/lock

# One "SOURCE TARGET" per line; a directory's mount point is created if missing.
while read -r source target; do
    if [ -d "$source" ]; then
        mkdir -p "$target"
    fi
    mount --bind "$source" "$target"
done <"$dir/mounts"

/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
if [ ! -e "$dir/bare" ]; then
    nginx
    dockerd \
        --data-root /var/lib/docker \
        --exec-root /run/docker-exec \
        --pidfile /run/docker.pid \
        -H unix:///run/docker.sock \
        --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
        --cgroup-parent "$netns" \
        >"$dir/dockerd.log" 2>&1 &
fi

exec sleep infinity
