#include "common/cancel.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace cb::cancel {
namespace {

constexpr int kSlots = 256;

std::atomic<int> g_signal{0};
// Write ends the handler writes to (-1: slot never used). Written once per slot, never closed.
std::atomic<int> g_write_fds[kSlots];
int g_read_fds[kSlots];
bool g_in_use[kSlots];
std::mutex g_mu;
std::once_flag g_init;

void InitSlots() {
  for (int i = 0; i < kSlots; ++i) {
    g_write_fds[i].store(-1);
    g_read_fds[i] = -1;
    g_in_use[i] = false;
  }
}

void Broadcast(int sig) {
  unsigned char b = static_cast<unsigned char>(sig);
  for (auto& w : g_write_fds) {
    int fd = w.load(std::memory_order_acquire);
    if (fd >= 0) (void)!write(fd, &b, 1);
  }
}

void OnSignal(int sig) {
  int saved = errno;
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  Broadcast(sig);
  errno = saved;
}

void Drain(int fd) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace

Status InstallSignalHandlers() {
  std::call_once(g_init, InitSlots);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigaction(sig, &sa, nullptr) != 0) return ErrnoError(errno, fmt::format("install handler for signal {}", sig));
  }
  return Ok();
}

int Signal() { return g_signal.load(std::memory_order_acquire); }

void Request(int sig) {
  std::call_once(g_init, InitSlots);
  OnSignal(sig);
}

Status Check() {
  int sig = Signal();
  if (sig == 0) return Ok();
  const char* name = sigabbrev_np(sig);
  return MakeError(ErrorCode::kCancelled, "interrupted by SIG{}", name ? name : std::to_string(sig).c_str());
}

int ExitCode() { return 128 + Signal(); }

Subscription::Subscription() {
  std::call_once(g_init, InitSlots);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (int i = 0; i < kSlots && slot_ < 0; ++i) {
      if (g_in_use[i]) continue;
      if (g_read_fds[i] < 0) {
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return;
        g_read_fds[i] = p[0];
        g_write_fds[i].store(p[1], std::memory_order_release);
      }
      Drain(g_read_fds[i]);  // bytes of signals that came while the pipe was idle
      g_in_use[i] = true;
      slot_ = i;
      fd_ = g_read_fds[i];
    }
  }
  // The handler sets the flag before writing: a signal drained above is seen here.
  if (fd_ >= 0 && Signal() != 0) {
    unsigned char b = static_cast<unsigned char>(Signal());
    (void)!write(g_write_fds[slot_].load(), &b, 1);
  }
}

Subscription::~Subscription() {
  if (slot_ < 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_in_use[slot_] = false;
}

}  // namespace cb::cancel
