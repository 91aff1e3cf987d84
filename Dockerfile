# waitloop on debian:bookworm-slim (docs/kubernetes.md):
#   docker build -t waitloop .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" \
#     -e KUBECONFIG=/kube/config -v "$HOME/.kube/config:/kube/config:ro" waitloop run crd-ready.yaml
# Contents: the binary, man page, schemas, prompts, retry.sh, the probes
# (/usr/local/share/waitloop/probes), bash/zsh completion, and kubectl from
# the Kubernetes package repository (pkgs.k8s.io). Runs as uid 10001.
# tests/e2e/test_install.sh runs the same install step into a temporary root.

FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential pkg-config libyaml-dev libcjson-dev libgit2-dev libsqlite3-dev libpcre2-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build/waitloop && make install DESTDIR=/out PREFIX=/usr/local

FROM debian:bookworm-slim
# kubectl's minor version (pkgs.k8s.io has one repository per minor release).
ARG KUBECTL_MINOR=v1.31
# Runtime libraries of the binary (libgit2 is loaded on first use), bash and
# coreutils/sed for the probes, git for workspaces, and kubectl the way the
# Kubernetes docs install it on Debian: the pkgs.k8s.io apt repository with
# its signing key.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
      libyaml-0-2 libcjson1 libgit2-1.5 libsqlite3-0 libpcre2-8-0 bash git ca-certificates curl gnupg \
    && mkdir -p -m 755 /etc/apt/keyrings \
    && curl -fsSL "https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/Release.key" \
      | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg \
    && echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/${KUBECTL_MINOR}/deb/ /" \
      > /etc/apt/sources.list.d/kubernetes.list \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends kubectl \
    && apt-get purge -y -qq curl gnupg && apt-get autoremove -y -qq \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/waitloop waitloop \
    && mkdir -p /work && chown 10001:10001 /work
COPY --from=build /out/ /
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["waitloop"]
CMD ["--help"]
