// `cbuild system check [--repair]`: store/check.h does the work; this prints what it found and
// turns the result into the exit status (0: the store is sound, 1: it is not).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/common.h"
#include "cli/verbs.h"
#include "store/check.h"

namespace cb::cli {
namespace {

int SystemCheck(const GlobalOptions& g, bool repair) {
  auto s = OpenStore(g);
  if (!s) return 1;
  store::CheckOptions opts;
  opts.repair = repair;
  auto report = store::CheckStore(*s, opts);
  if (!report) return Fail(fmt::format("check `{}`: {}", s->root(), report.error().ToString()));
  size_t fixed = 0;
  for (const auto& f : report->findings) {
    fixed += f.fixed;
    if (f.repair.empty()) {
      fmt::print("{}\n", f.what);
    } else {
      fmt::print("{}: {}\n", f.what, f.repair);
    }
  }
  fmt::print("checked {} blobs, {} layers, {} images, {} cache records: ", report->blobs, report->layers,
             report->images, report->records);
  size_t n = report->findings.size();
  if (n == 0) {
    fmt::print("no problems\n");
  } else if (repair) {
    fmt::print("{} problem{}, {} repaired\n", n, n == 1 ? "" : "s", fixed);
  } else {
    fmt::print("{} problem{} (`cbuild system check --repair` removes or remakes what is damaged)\n", n,
               n == 1 ? "" : "s");
  }
  fmt::print("store `{}` is {}\n", s->root(), report->Sound() ? "sound" : "NOT sound");
  return report->Sound() ? 0 : 1;
}

}  // namespace

void AddCheckVerb(CLI::App& system, const GlobalOptions& g, int& rc) {
  static bool repair = false;
  auto* check = system.add_subcommand("check", "Check the store: re-hash every blob, check every image, layer and cache record");
  check->add_flag("-r,--repair", repair,
                  "Remove what is damaged (corrupt blobs, broken snapshots, dangling records, tags of images "
                  "that cannot be used) and remake what can be remade (layer blobs from their snapshots)");
  check->footer(
      "Re-hashes every blob (a blob must be a regular file whose bytes hash to its name), checks\n"
      "that every tag's manifest, config and layers are there (a layer as a snapshot or a sound\n"
      "blob), that every layer record and cache record names what is stored, and SQLite's own\n"
      "check of metadata.db. Unreferenced data is not a problem (cbuild prune removes it).\n"
      "Prints one line per problem and a summary; exit status 0 when the store is sound (nothing\n"
      "wrong, or everything repaired), 1 when it is not. Safe while builds run: what they are\n"
      "writing is skipped, and --repair never removes what they use. See docs/integrity.md.");
  check->callback([&] { rc = SystemCheck(g, repair); });
}

}  // namespace cb::cli
