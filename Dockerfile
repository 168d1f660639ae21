# One small non-root image with the sessionconnector binary (all subcommands).
# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/sessionconnector ./cmd/sessionconnector
# The recording player: the browser decodes recordings with the same Go code, as WebAssembly.
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out/player && \
    GOOS=js GOARCH=wasm go build -trimpath -o /out/player/player.wasm ./recorder/player/wasm && \
    cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" /out/player/wasm_exec.js

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sessionconnector /usr/local/bin/sessionconnector
# Found by --player-dir's default.
COPY --from=build /out/player /usr/share/sessionconnector/player
USER 65532:65532
EXPOSE 3389 8443
ENTRYPOINT ["/usr/local/bin/sessionconnector"]
