#!/usr/bin/env bash
# Host firewall for the paywall engine: SSH and nginx (80, 443) open; the gateway (8080) and
# Flower (5555) closed even if one of them is ever bound to a public address by mistake.
# Everything else inbound is denied by ufw's default policy, set here too.
#
#   sudo infra/deploy/ufw-setup.sh            # apply (safe to run again: ufw skips existing rules)
#   infra/deploy/ufw-setup.sh --dry-run       # print the ufw commands only (needs neither root nor ufw)
#
# SSH on another port? Set SSH_PORT=2222 before running, or you lock yourself out.
set -euo pipefail

usage() {
    echo "usage: $0 [--dry-run]" >&2
}

dry_run=0
case "${1:-}" in
    "") ;;
    --dry-run) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; exit 2 ;;
esac
if [[ $# -gt 1 ]]; then
    usage
    exit 2
fi

ssh_port="${SSH_PORT:-22}"
if ! [[ "$ssh_port" =~ ^[0-9]+$ ]]; then
    echo "SSH_PORT must be a port number, got '$ssh_port'" >&2
    exit 2
fi

run() {
    if [[ $dry_run -eq 1 ]]; then
        # Quoted as a shell would need it, so the output can be pasted.
        printf 'ufw'
        printf ' %q' "$@"
        printf '\n'
    else
        ufw "$@"
    fi
}

if [[ $dry_run -eq 0 ]]; then
    if ! command -v ufw >/dev/null 2>&1; then
        echo "ufw is not installed (apt-get install ufw)" >&2
        exit 1
    fi
    if [[ $EUID -ne 0 ]]; then
        echo "run as root (sudo), or with --dry-run" >&2
        exit 1
    fi
fi

run default deny incoming
run default allow outgoing
# SSH first, so enabling the firewall below never cuts the session running this script.
run allow "${ssh_port}/tcp" comment paywall-ssh
run allow 80/tcp comment paywall-http-acme
run allow 443/tcp comment paywall-https
run deny 8080/tcp comment paywall-gateway  # nginx reaches it on 127.0.0.1
run deny 5555/tcp comment paywall-flower  # 127.0.0.1 only: use an ssh tunnel
run --force enable
run status verbose
