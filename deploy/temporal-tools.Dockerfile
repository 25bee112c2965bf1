# temporal-sql-tool from the same pinned module as the server (tools/temporal-server/go.mod + go.sum); the schemas
# are embedded in it. docker-compose.yml's temporal-schema service runs deploy/temporal-schema.sh with it once,
# before the server starts.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY tools/temporal-server/go.mod tools/temporal-server/go.sum ./
RUN go mod download
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -o /out/temporal-sql-tool go.temporal.io/server/cmd/tools/sql

FROM debian:bookworm-slim
COPY --from=build /out/temporal-sql-tool /usr/local/bin/temporal-sql-tool
COPY deploy/temporal-schema.sh /usr/local/bin/temporal-schema
RUN useradd --uid 10001 temporal
USER temporal
ENTRYPOINT ["/usr/local/bin/temporal-schema"]
