# The Switchboard operator image. Build with `make docker-build`
# (docker build -t switchboard/operator:dev .).

FROM golang:1.26 AS builder
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN go mod download

# Only what the operator binary is built from. hack/ and test/ are left out:
# they hold tool modules and the test harness, not operator code. runtime/ is
# copied so that the tenant runtime, once it lives there, is in the build context.
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY runtime/ runtime/

# Static binary: the distroless/static base has no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /switchboard .

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /switchboard /switchboard
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/switchboard"]
