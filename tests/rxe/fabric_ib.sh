#!/bin/bash
# Runs inside tools' rxe VM (see tests/test_fabric_ib.py): soft-RoCE
# devices rxe0 (veth0) and rxe1 (veth1). The host's /usr is this VM's;
# /usr/sbin/ip there is a symlink to /bin/ip, which here is busybox, so
# /usr/bin comes first.
export PATH=/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin:/sbin
mkdir -p /var/run /run/netns
# The VM's root is a bare initramfs: shuntd's --group needs a group file.
[ -e /etc/group ] || echo "root:x:0:" > /etc/group
[ -e /etc/passwd ] || echo "root:x:0:0:root:/tmp:/bin/sh" > /etc/passwd
# A 9000-byte netdev gives rxe an active IB MTU of 4096 (1500 gives 1024).
ip link set veth0 mtu 9000 && ip link set veth1 mtu 9000
exec /usr/bin/python3 "$(dirname "$0")/fabric_ib.py" "$@"
