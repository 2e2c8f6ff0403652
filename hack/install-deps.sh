#!/usr/bin/env bash
# Installs the Debian packages tests and `make dev` run for real, when missing.
# Idempotent; prints what it does.
set -euo pipefail

need=()
have_pg() { command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_pg || need+=(postgresql)
# Headless Chromium drives the inbox in the browser tests.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The email tests run a private dovecot (IMAP) and postfix (SMTP) (test/harness/mail.go).
mail=()
{ command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]; } || mail+=(dovecot-imapd)
{ command -v postfix >/dev/null 2>&1 && [ -x /usr/lib/postfix/sbin/master ]; } || mail+=(postfix)
need+=(${mail[@]+"${mail[@]}"})

if [ ${#need[@]} -eq 0 ]; then
  echo "install-deps: Debian packages present (postgresql, chromium, dovecot-imapd, postfix)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]} with apt-get..."
export DEBIAN_FRONTEND=noninteractive
# postfix asks how to configure the system's mail: not at all, the tests
# write their own configuration.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a system cluster on 5432; the tests run their own private ones.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
fi
# Nor a system dovecot or postfix: the tests start private ones on free ports.
if [ ${#mail[@]} -gt 0 ]; then
  for svc in dovecot postfix; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi
echo "install-deps: installed ${need[*]}"
