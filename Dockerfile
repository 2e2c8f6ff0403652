# The Switchboard operator image. Build with `make docker-build`
# (docker build -t switchboard/operator:dev .).

FROM golang:1.26 AS builder
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN go mod download

# Only what the operator binary is built from: hack/, test/ and the runtime
# (which has its own image, runtime/Dockerfile) are left out, but for
# runtime/contract, the operator-runtime contract both sides import. The
# install test (test/deploy) runs this stage's COPY and RUN lines to prove it.
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY runtime/contract/ runtime/contract/

# Static binary: the distroless/static base has no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /switchboard .

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /switchboard /switchboard
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/switchboard"]
