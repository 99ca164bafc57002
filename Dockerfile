# syntax=docker/dockerfile:1
# streamer: the production image. Two stages: `build` installs every dependency and compiles the
# TypeScript sources to dist/; the runtime stage holds only the production dependencies and dist/.
# test/deploy/image.test.ts builds this file with podman and runs the image (test/deploy/build-image.sh).
ARG NODE_IMAGE=node:24-trixie-slim

# The build stage runs on the build machine's platform: its output (dist/) is JavaScript, the same
# for every target, so a cross-platform build (`--platform linux/arm64` on amd64) emulates only the
# runtime stage's install.
FROM --platform=${BUILDPLATFORM} ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# deps/: local stand-ins that package.json's overrides install instead of unused dependencies.
COPY deps ./deps
# onnxruntime-node's install script would download GPU libraries: its CPU build ships in the package.
# (package.json's allowScripts denies that script to npm 11.19+; this covers any npm.)
RUN --mount=type=cache,target=/root/.npm ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE}
WORKDIR /app
# The container listens on every interface; the port is the one EXPOSEd below.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
COPY package.json package-lock.json ./
COPY deps ./deps
# Set by BuildKit and buildah for the platform being built (`--platform linux/arm64`).
ARG TARGETARCH
# npm's download cache stays in the build cache (the mount), out of the image. In the same layer,
# what never runs here goes: onnxruntime-node's binaries for other platforms (it ships darwin,
# win32 and both Linux architectures, 250 MB of its 290 MB), TFLite models (openWakeWord's are
# read as ONNX), TypeScript sources and declarations (Node does not run .ts from node_modules) and
# source maps (read only with --enable-source-maps).
RUN --mount=type=cache,target=/root/.npm ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund \
 && case "${TARGETARCH:?set by BuildKit or buildah}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "onnxruntime-node has no linux/$TARGETARCH build" >&2; exit 1 ;; esac \
 && ort=node_modules/onnxruntime-node/bin/napi-v6 \
 && test -f "$ort/linux/$arch/onnxruntime_binding.node" \
 && find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -r {} + \
 && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -r {} + \
 && find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.tflite' \) -delete
COPY --from=build /app/dist ./dist
# Whisper models (model.backend "whisper") are not in the image: mount them at /app/models. The
# keywords backend's models come with its npm package.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/api/v1/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1: it receives the runtime's SIGTERM and drains (no npm or shell in between).
# Arguments given to the container (`docker run IMAGE --config FILE`, a pod's `args`) follow it.
ENTRYPOINT ["node", "dist/main.js"]
