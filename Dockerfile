# syntax=docker/dockerfile:1
#
# vkdeit serve: a DeiT classifier behind the Open Inference Protocol (KServe
# v2), HTTP/REST on 8080 and gRPC on 8081, for KServe (see deploy/) or plain
# docker / podman:
#
#   docker build -t vkdeit .
#   docker run --rm -p 8080:8080 -p 8081:8081 -v "$PWD/my-deit:/mnt/models:ro" vkdeit
#   docker run --rm --gpus all -p 8080:8080 -p 8081:8081 -v ... vkdeit --device gpu
#
# The model is read from /mnt/models, where KServe's storage initializer puts
# a storageUri's files (model.safetensors or pytorch_model.bin, config.json,
# preprocessor_config.json). Without a GPU the engine runs on the CPU; with
# one, the NVIDIA container toolkit mounts the driver and its Vulkan ICD into
# the container (it needs the "graphics" driver capability, set below).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
# cgo: the Vulkan loader's headers (vulkan-go) and libjpeg-turbo's (the JPEG
# decoder).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libvulkan-dev libjpeg62-turbo-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/vkdeit ./cmd/vkdeit

FROM debian:bookworm-slim
# The Vulkan loader, Mesa's drivers (lavapipe runs Vulkan on the CPU where
# there is no GPU) and libjpeg-turbo. The GPU driver comes from the host; its
# Vulkan ICD, which the NVIDIA container toolkit mounts, links against
# libglvnd's dispatch library (libglvnd0, libegl1).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 mesa-vulkan-drivers libjpeg62-turbo \
      libglvnd0 libegl1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vkdeit \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/vkdeit vkdeit
COPY --from=build /out/vkdeit /usr/local/bin/vkdeit
# A Hub repo id as --model downloads into this cache (writable by the user).
ENV HF_HOME=/home/vkdeit/.cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
USER 10001:10001
WORKDIR /home/vkdeit
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/vkdeit", "serve"]
CMD ["--model", "/mnt/models"]
