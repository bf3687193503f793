# A remote rollout worker: `paddock-worker serve --listen` (no libtorch; Python for reward files).
#   docker build -f deploy/worker.Dockerfile -t paddock-worker .
#   docker run -e PADDOCK_WORKER_TOKEN=... -p 50051:50051 paddock-worker
# The trainer names it in [workers] remote = ["host:50051"] and holds the same token.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# python3-dev: pyo3 links the system's libpython3.11, as on the trainer's machine.
RUN apt-get update && apt-get install -y --no-install-recommends python3-dev && rm -rf /var/lib/apt/lists/*
COPY . .
ENV PYO3_PYTHON=/usr/bin/python3
RUN cargo build --release --locked -p paddock-sandbox --bin paddock-worker \
    && strip target/release/paddock-worker

FROM debian:bookworm-slim
# libpython3.11 and its standard library: student reward files run on it.
RUN apt-get update && apt-get install -y --no-install-recommends libpython3.11 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin paddock
COPY --from=build /src/target/release/paddock-worker /usr/local/bin/paddock-worker
USER 10001
EXPOSE 50051
# The token comes from PADDOCK_WORKER_TOKEN (a Kubernetes secret); without one it refuses to start.
ENTRYPOINT ["/usr/local/bin/paddock-worker", "serve", "--listen", "0.0.0.0:50051"]
