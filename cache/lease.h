// Leases: what each running cbuild process uses, so that garbage collection (`prune`) never
// removes it — containerd's leases, one per process, held for the process's lifetime.
//
// Files under <root>:
//   lock                 the gc lock: held shared for the moment a process reads a reference
//                        and leases what it names (microseconds), exclusive while prune or
//                        `system check --repair` decides what to delete and deletes it
//   leases/<pid>-<rand>  a process's lease: the digests (blobs, layers) it uses, one per line.
//                        The process holds an exclusive flock on it while it lives; a lease
//                        whose flock can be taken belongs to a dead process (even one killed
//                        by SIGKILL: the kernel drops the lock) and is dropped.
//
// The protocol that makes it safe: a process adds a digest to its lease *before* it checks
// that the thing exists or uses it, and adds the digests a record names inside the same shared
// section as the read of that record. Prune reads the leases and deletes under the exclusive
// lock, so each lease addition happens wholly before a prune (which then keeps the digest) or
// wholly after it (and the check that follows sees what the prune left).
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace cb::cache {

/// Every "sha256:<64 hex>" in a text (a cache record, a manifest, a config): what it references.
std::vector<Digest> DigestsIn(std::string_view text);

/// Thread-safe.
class Leases {
 public:
  /// Creates <root>/leases and <root>/lock when missing; the lease file itself is made on the
  /// first Add (processes that only read never write one).
  static Result<std::unique_ptr<Leases>> Open(const std::string& root);
  /// Removes this process's lease file.
  ~Leases();
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  /// The shared gc lock, for a read that must be leased before any prune can act on it.
  /// Empty (no lock taken) while this process holds the exclusive lock. Sections nest.
  class Section {
   public:
    Section() = default;
    explicit Section(UniqueFd fd) : fd_(std::move(fd)) {}

   private:
    UniqueFd fd_;  // closing it releases the lock
  };
  Result<Section> Enter() const;

  /// Adds digests to this process's lease: from now on no prune removes them. Digests already
  /// leased cost nothing. Takes a Section of its own (callers that read first hold one).
  Status Add(const std::vector<Digest>& digests);
  Status Add(const Digest& d) { return Add(std::vector<Digest>{d}); }
  bool Holds(const Digest& d) const;

  /// Waits for (or, with `wait` false, tries: kExists when busy) the exclusive gc lock: no
  /// other process is inside a Section. Held until UnlockExclusive or destruction.
  Status LockExclusive(bool wait);
  void UnlockExclusive();

  /// Every digest leased by a live process, this one included. Call under the exclusive lock.
  /// Lease files of dead processes are removed.
  Result<std::set<Digest>> Live() const;

 private:
  explicit Leases(std::string root) : root_(std::move(root)) {}
  Status AppendLocked(const std::vector<Digest>& fresh);

  std::string root_;
  mutable std::mutex mu_;
  std::set<Digest> held_;  ///< what this process leased
  UniqueFd lease_fd_;      ///< this process's lease file (flock LOCK_EX), opened on first Add
  std::string lease_path_;
  UniqueFd exclusive_fd_;  ///< the gc lock, held exclusively
};

}  // namespace cb::cache
