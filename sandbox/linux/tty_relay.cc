#include "sandbox/linux/tty_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace cb::sandbox::linux_impl {
namespace {

void WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader went away: drop the output, the command still runs
    data += n;
    len -= static_cast<size_t>(n);
  }
}

}  // namespace

TtyRelay::TtyRelay(UniqueFd master, int in_fd, int out_fd, int winch_fd)
    : master_(std::move(master)),
      in_fd_(in_fd),
      out_fd_(out_fd),
      winch_fd_(winch_fd),
      in_open_(in_fd >= 0),
      winch_open_(winch_fd >= 0) {
  int flags = fcntl(master_.get(), F_GETFL);
  fcntl(master_.get(), F_SETFL, flags | O_NONBLOCK);
  Resize();
}

void TtyRelay::Prepare(struct pollfd* fds) const {
  short master_events = static_cast<short>(POLLIN | (pending_.empty() ? 0 : POLLOUT));
  fds[0] = {master_open_ ? master_.get() : -1, master_events, 0};
  fds[1] = {in_open_ && pending_.size() < 65536 ? in_fd_ : -1, POLLIN, 0};
  fds[2] = {winch_open_ ? winch_fd_ : -1, POLLIN, 0};
}

void TtyRelay::Handle(const struct pollfd* fds) {
  if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) CopyOutput();
  if (fds[0].revents & POLLOUT) FlushInput();
  if (fds[1].revents) ReadInput();
  if (fds[2].revents) {
    char buf[64];
    ssize_t n = read(winch_fd_, buf, sizeof buf);
    if (n == 0) winch_open_ = false;
    Resize();
  }
}

void TtyRelay::CopyOutput() {
  char buf[8192];
  for (;;) {
    ssize_t n = read(master_.get(), buf, sizeof buf);
    if (n > 0) {
      WriteAll(out_fd_, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    master_open_ = false;  // EIO: every slave fd is closed
    return;
  }
}

void TtyRelay::ReadInput() {
  char buf[4096];
  ssize_t n = read(in_fd_, buf, sizeof buf);
  if (n > 0) {
    pending_.append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    in_open_ = false;
    pending_ += '\x04';  // end of input: the terminal's EOF character
  }
  FlushInput();
}

void TtyRelay::FlushInput() {
  while (!pending_.empty() && master_open_) {
    ssize_t n = write(master_.get(), pending_.data(), pending_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: wait for POLLOUT
    pending_.erase(0, static_cast<size_t>(n));
  }
}

void TtyRelay::Resize() const {
  struct winsize ws {};
  if ((in_fd_ >= 0 && ioctl(in_fd_, TIOCGWINSZ, &ws) == 0) ||
      ioctl(out_fd_, TIOCGWINSZ, &ws) == 0)
    ioctl(master_.get(), TIOCSWINSZ, &ws);
}

void TtyRelay::Drain() {
  if (master_open_) CopyOutput();
}

}  // namespace cb::sandbox::linux_impl
