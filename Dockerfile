# membudget container image: build with the Makefile on Debian bookworm,
# ship only the binary and its runtime libraries, run as a non-root user.
# The package lists live in the Makefile (BUILD_PKGS, RUNTIME_PKGS), the same
# lists `make deps` installs, so the image and a developer machine agree.
#
#   docker build -t ghcr.io/membudget/membudget:0.1.0 .

FROM debian:bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends make ca-certificates git
WORKDIR /src
COPY Makefile ./
RUN make deps-build && make --no-print-directory -s print-runtime-pkgs > /runtime-pkgs
COPY . .
# COMMIT is read from git when available; .dockerignore leaves .git out, so pass
# --build-arg or accept "unknown" in `membudget version`.
RUN make clean && make bin/membudget && strip bin/membudget && bin/membudget version

FROM debian:bookworm-slim
COPY --from=build /runtime-pkgs /tmp/runtime-pkgs
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $(cat /tmp/runtime-pkgs) && \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-pkgs && \
    mkdir -p /var/lib/membudget/profiles && chown 65532:65532 /var/lib/membudget/profiles
COPY --from=build /src/bin/membudget /usr/local/bin/membudget
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/membudget"]
CMD ["run", "--help"]
