#!/usr/bin/env bash
# Set up a fresh Debian machine (Python 3.11) for the 96536 hotline and run it or its tests.
#
#   bash .ci/bootstrap.sh serve   # install what the product needs, then `hotline serve` on SQLite
#   bash .ci/bootstrap.sh test    # install what the tests need, start PostgreSQL/Redis if absent, run pytest
#
# Debian packages are installed when running as root; otherwise the exact apt-get command is printed and the
# script stops. Everything Python goes into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
shift || true
case "$mode" in
  serve|test) ;;
  *) echo "usage: bash .ci/bootstrap.sh serve|test [pytest args...]" >&2; exit 2 ;;
esac

# Debian packages: the product needs espeak-ng (prompts), sox (audio conversion) and kamailio (SIP front
# door); the tests add real SIP peers (sipp, baresip), Chromium for the TV pages, PostgreSQL and Redis.
serve_pkgs=(python3-venv espeak-ng libespeak-ng1 espeak-ng-data sox kamailio)
test_pkgs=(sip-tester baresip chromium chromium-driver postgresql redis-server procps iproute2 openssl
           kamailio-tls-modules wrk fonts-wqy-microhei)
pkgs=("${serve_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages. Run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$mode" = test ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi

if [ "$mode" = serve ]; then
  exec .venv/bin/hotline serve "$@"
fi

# ---- test services: use the machine's PostgreSQL and Redis, or start local ones.
pg_ok() { .venv/bin/python - <<'EOF' 2>/dev/null
import os, psycopg2
from sqlalchemy.engine import make_url
u = make_url(os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database,
                 connect_timeout=3).close()
EOF
}
if ! pg_ok; then
  if [ "$(id -u)" -eq 0 ] && ls /etc/postgresql >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
      || su postgres -c "createdb test"
    export HOTLINE_TEST_PG_URL=${HOTLINE_TEST_PG_URL:-postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/test}
    pg_ok || HOTLINE_TEST_PG_URL=postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/test
  fi
  pg_ok || echo "warning: PostgreSQL is not reachable; its tests will say so" >&2
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  fi
fi

exec .venv/bin/python -m pytest "$@"
