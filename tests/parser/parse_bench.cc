// Parse throughput on a large generated Dockerfile (run by bench/parse/run).
//   parse_bench [MEGABYTES] [ITERATIONS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "parser/parser.h"

namespace {

// A realistic mix: multi-stage builds, long continued RUNs, JSON forms, ENV/LABEL pairs,
// COPY with flags, heredocs and comments.
std::string Generate(size_t target_bytes) {
  std::string s = "# syntax=docker/dockerfile:1\nARG BASE=debian:12\n";
  for (int stage = 0; s.size() < target_bytes; ++stage) {
    std::string n = std::to_string(stage);
    s += "\n# stage " + n + "\nFROM --platform=$BUILDPLATFORM ${BASE} AS stage" + n + "\n";
    s += "ENV PATH=/opt/bin:$PATH LANG=C.UTF-8 STAGE=" + n + " \\\n    EXTRA=\"a b c\"\n";
    s += "LABEL org.opencontainers.image.title=\"stage " + n + "\" version=1." + n + "\n";
    s += "WORKDIR /src/" + n + "\n";
    s += "COPY --from=stage0 --chown=1000:1000 --chmod=644 src/ include/ /src/" + n + "/\n";
    s += "RUN --mount=type=cache,target=/var/cache/apt apt-get update \\\n";
    for (int i = 0; i < 8; ++i) s += "    && apt-get install -y pkg" + std::to_string(i) + " \\\n";
    s += "    && rm -rf /var/lib/apt/lists/*\n";
    s += "RUN <<EOF\nset -eux\nmake -j\"$(nproc)\" all\nmake install\nEOF\n";
    s += "COPY <<'CONF' /etc/app.conf\nkey=value\nCONF\n";
    s += "HEALTHCHECK --interval=30s CMD [\"/bin/check\", \"--quiet\"]\n";
    s += "EXPOSE 80/tcp 443\nUSER app:app\nVOLUME [\"/data\"]\n";
    s += "ENTRYPOINT [\"/usr/bin/app\", \"--config\", \"/etc/app.conf\"]\nCMD [\"serve\"]\n";
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double mb = argc > 1 ? std::atof(argv[1]) : 16;
  int iterations = argc > 2 ? std::atoi(argv[2]) : 5;
  std::string text = Generate(static_cast<size_t>(mb * 1024 * 1024));
  size_t instructions = 0;
  double best = 1e100;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto df = cb::parser::Parse(text);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!df) {
      std::fprintf(stderr, "parse failed: %s\n", df.error().ToString().c_str());
      return 1;
    }
    instructions = df->instructions.size();
    if (secs < best) best = secs;
  }
  double size_mb = static_cast<double>(text.size()) / (1024.0 * 1024.0);
  std::printf("parsed %.1f MiB (%zu instructions), best of %d: %.3f s, %.1f MB/s\n", size_mb,
              instructions, iterations, best, size_mb / best);
  return 0;
}
