# syntax=docker/dockerfile:1
# vigil in a container: a static binary on distroless, run as non-root.
#
#   docker build -t vigil --build-arg VERSION=v0.1.0 \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(git log -1 --format=%cI) .
#   docker run --rm vigil version

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The modules first: a change of source alone reuses this layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
# CGO off: the SQLite driver is pure Go, so the binary needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/vigil-ir/vigil/internal/cli.Version=${VERSION} -X github.com/vigil-ir/vigil/internal/cli.Commit=${COMMIT} -X github.com/vigil-ir/vigil/internal/cli.BuildDate=${DATE}" \
      -o /out/vigil ./cmd/vigil

# distroless/static: CA certificates and tzdata, no shell, no package
# manager; the nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/local/bin/vigil
USER 65532:65532
# The journal key and default state go under $HOME (/home/nonroot): mount
# a volume there, or give --state postgres://... and VIGIL_JOURNAL_KEY.
ENV HOME=/home/nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["--help"]
