"""Read-only probes of a host's free memory and disk, and what each color's container uses
(for the resources preflight of a deploy). Every value is in bytes; a value that cannot be
read is left out (the preflight then does not judge it)."""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import COLORS
from bluegreen.shell import docker


def probe(app: str, app_dir: str) -> str:
    """``mem_available=``, ``docker_root=``, ``disk_free=`` (docker's data root),
    ``app_disk_free=`` (the app dir, or its nearest existing parent) and, per running
    color, ``memory_<color>=`` (its cgroup's usage, else its main process's RSS); per color
    ``image_size_<color>=``, the size of its container's image (the estimate of a new one)."""
    lines = [
        "awk '/^MemAvailable:/ {printf \"mem_available=%.0f\\n\", $2 * 1024}' /proc/meminfo",
        "root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null); echo docker_root=$root",
        'df -Pk "${root:-/}" 2>/dev/null | awk \'NR==2 {printf "disk_free=%.0f\\n", $4 * 1024}\'',
        f'd={quote(app_dir)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done',
        'df -Pk "$d" 2>/dev/null | awk \'NR==2 {printf "app_disk_free=%.0f\\n", $4 * 1024}\'',
    ]
    names = " ".join(quote(docker.container(app, color)) for color in COLORS)
    # one docker call for both colors; then their cgroups and (running or not) image sizes
    lines.append(
        f"docker inspect -f '{{{{.Name}}}} {{{{.State.Pid}}}} {{{{.Image}}}}' {names} 2>/dev/null |"
        " while read -r name pid image; do color=${name##*-};"
        ' echo image_size_$color=$(docker inspect --type image -f "{{.Size}}" "$image");'
        ' [ "$pid" != 0 ] || continue;'
        ' cg=$(awk -F: \'$2 == "memory" || $2 == "" {print $3; exit}\' /proc/$pid/cgroup);'
        " used=$(cat /sys/fs/cgroup/memory$cg/memory.usage_in_bytes"
        " /sys/fs/cgroup$cg/memory.current 2>/dev/null | head -n 1);"
        ' [ -n "$used" ] || used=$(awk \'/^VmRSS:/ {printf "%.0f", $2 * 1024}\''
        " /proc/$pid/status); echo memory_$color=$used; done"
    )
    return "\n".join(lines)
