# The gatewatch image of deploy/compose.test.yaml: the final stage of
# deploy/Dockerfile FROM scratch instead of distroless, with the static
# binaries the test built on the host (no registry is reachable in CI).
# Build context: a directory holding gatewatch, healthprobe and empty/.
FROM scratch
COPY gatewatch healthprobe /usr/local/bin/
COPY --chown=65532:65532 empty/ /var/lib/gatewatch/
USER 65532:65532
WORKDIR /var/lib/gatewatch
ENV GATEWATCH_DATA_DIR=/var/lib/gatewatch
ENTRYPOINT ["/usr/local/bin/gatewatch"]
CMD ["--help"]
