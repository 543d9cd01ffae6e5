# syntax=docker/dockerfile:1
#
# ratelimiter-service as one compiled binary on a distroless runtime, run as a non-root user.
#
#   docker build -t ratelimiter-service .
#   docker run --rm -p 8000:8000 -e RATELIMITER_REDIS_URL=redis://host:6379 ratelimiter-service
#
# tests/deploy/dockerfile_test.ts checks this file's invariants: pinned images, non-root user, no
# -A, the same permissions as `deno task compile`, and an --allow-env list equal to the variables
# the config reads (plus the two node-redis reads). The permission flags below are written by
# `deno task permissions` from tools/node_permissions.ts: edit that list, not this file.

# ---- build: cache dependencies from the lock file, then compile -------------------------------
FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /app

# Dependencies alone first: this layer is reused until deno.json or deno.lock changes.
COPY deno.json deno.lock ./
RUN deno install --frozen-lockfile

COPY main.ts ./
COPY src/ ./src/
# The permissions are baked into the binary, which can never exceed them.
RUN deno compile --frozen-lockfile --exclude-unused-npm --no-prompt \
    --allow-net \
    --allow-env=RATELIMITER_REDIS_URL,RATELIMITER_REDIS_MODE,RATELIMITER_REDIS_SENTINEL_MASTER,RATELIMITER_REDIS_SENTINEL_PASSWORD,RATELIMITER_NODE_ID,RATELIMITER_NODE_HOST,RATELIMITER_NODE_PORT,RATELIMITER_LISTEN_HOST,RATELIMITER_DEFAULT_LIMIT,RATELIMITER_DEFAULT_WINDOW_MS,RATELIMITER_DEFAULT_ALGORITHM,RATELIMITER_NODE_TTL_SECONDS,RATELIMITER_NODE_HEARTBEAT_SECONDS,RATELIMITER_LOG_LEVEL,RATELIMITER_KEY_PREFIX,RATELIMITER_KEY_LAYOUT,RATELIMITER_ADMIN_TOKEN,RATELIMITER_ADMIN_READ_AUTH,RATELIMITER_STORE_TIMEOUT_MS,RATELIMITER_FAILURE_MODE,RATELIMITER_SHUTDOWN_GRACE_MS,RATELIMITER_MEMORY_MAX_KEYS,RATELIMITER_BODY_TIMEOUT_MS,RATELIMITER_BLOCK_CACHE,RATELIMITER_COALESCE,RATELIMITER_REUSE_PORT,RATELIMITER_MAX_LIMIT,RATELIMITER_MAX_WINDOW_MS,RATELIMITER_MAX_COST,RATELIMITER_GRPC_PORT,RATELIMITER_RLS_RATELIMIT_HEADERS,RATELIMITER_RULES_FILE,REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS,LOG_TOKENS,LOG_STREAM \
    --allow-sys=hostname \
    --allow-read \
    --output /app/ratelimiter main.ts

# ---- runtime: glibc and libgcc only, no shell, no package manager ------------------------------
# For byte-for-byte reproducible builds, pin the digest too: cc-debian12:nonroot@sha256:<digest>.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build --chown=65532:65532 /app/ratelimiter /app/ratelimiter

# 65532 is distroless's "nonroot" user; numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENV RATELIMITER_LISTEN_HOST=0.0.0.0 \
    RATELIMITER_NODE_PORT=8000
EXPOSE 8000 8081
# main.ts drains in-flight requests on SIGTERM (RATELIMITER_SHUTDOWN_GRACE_MS, 10 s by default):
# give `docker stop` a longer timeout than that (compose: stop_grace_period).
STOPSIGNAL SIGTERM
# No curl in distroless: the binary probes its own /health over loopback and exits 0 or 1.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/app/ratelimiter", "--healthcheck"]
ENTRYPOINT ["/app/ratelimiter"]
