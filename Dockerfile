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
COPY runtime/privacy/ runtime/privacy/

# Static binary: it needs nothing from the final stage but pg_dump and
# pg_restore.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /switchboard .

# Backups and restores run pg_dump and pg_restore, so the final stage is
# Debian slim with the PostgreSQL client rather than distroless/static. The
# client's major version must fit the servers (dump.CheckTools checks at
# start): pg_dump at least each server's, and pg_restore 17 or later cannot
# restore into a server before 17. Debian 12's own postgresql-client-15 fits
# PostgreSQL 15, which Switchboard is tested against; for newer servers,
# install their client from PGDG's apt repository instead and set --pg-dump
# and --pg-restore (or PATH) to its bin directory.
#
# ca-certificates, which distroless/static had, serves Vault and S3 over TLS.
# Kept small: no recommended packages; no apt lists, logs, docs or man pages;
# and perl (about 47 MB installed), which the client package pulls in only
# for postgresql-common's pg_wrapper (the /usr/bin/pg_dump that picks a
# version), is purged again with postgresql-common's client part: PATH names
# the client's own bin directory, so nothing needs the wrapper. dpkg still
# lists postgresql-client-15 and its libraries, so image scanners see them.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 \
 && dpkg --purge --force-depends postgresql-client-common perl perl-modules-5.36 libperl5.36 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /usr/share/doc/* /usr/share/man/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=builder /switchboard /switchboard
# 65532 is "nonroot", as in distroless; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/switchboard"]
