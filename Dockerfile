# Builds the lectern binary (pure Go, no cgo) into a small Debian image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/lectern ./cmd/lectern

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/lectern /usr/local/bin/lectern
ENV LECTERN_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 8554 7881/udp
ENTRYPOINT ["lectern"]
