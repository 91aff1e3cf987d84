# waitloop on debian:bookworm-slim (docs/kubernetes.md).
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential pkg-config libyaml-dev libcjson-dev libgit2-dev libsqlite3-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build/waitloop && make install PREFIX=/opt/waitloop

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libyaml-0-2 libcjson1 libgit2-1.5 libsqlite3-0 bash git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Add kubectl here if your waits use it, e.g. COPY --from=bitnami/kubectl:1.31 /opt/bitnami/kubectl/bin/kubectl /usr/local/bin/
COPY --from=build /opt/waitloop /usr/local
ENTRYPOINT ["waitloop"]
CMD ["--help"]
