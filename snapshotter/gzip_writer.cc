#include "snapshotter/gzip_writer.h"

#include <zlib.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace cb::snapshotter {

constexpr size_t kWindow = 32768;  // deflate's history: what a block may refer back to

struct GzipWriter::Block {
  std::string in;
  size_t in_size = 0;
  std::string dict;
  bool last = false;
  int level = 6;
  std::string out;
  uint32_t crc = 0;
  std::string error;  // set when zlib failed
  std::future<void> done;
};

namespace {

// Compression workers shared by every GzipWriter of the process, so that layers compressed at
// the same time share the cores instead of each starting its own threads. Only block jobs run
// here and they never wait on anything, so a writer blocking on its oldest block cannot
// deadlock. Leaked on purpose: workers may outlive static destructors at exit.
class BlockPool {
 public:
  static BlockPool& Get() {
    static BlockPool* pool = new BlockPool(std::max(1u, std::thread::hardware_concurrency()));
    return *pool;
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  explicit BlockPool(unsigned n) {
    for (unsigned i = 0; i < n; ++i) std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return !jobs_.empty(); });
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
};

// Raw deflate of one block. Non-final blocks end with a sync flush (byte-aligned, BFINAL
// clear) so that the blocks concatenate into one deflate stream.
void CompressBlock(GzipWriter::Block& b) {
  b.in_size = b.in.size();
  b.crc = static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(b.in.data()), b.in.size()));
  z_stream z{};
  if (deflateInit2(&z, b.level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    b.error = "deflateInit2 failed (out of memory?)";
    return;
  }
  if (!b.dict.empty() &&
      deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(b.dict.data()),
                           static_cast<uInt>(b.dict.size())) != Z_OK) {
    deflateEnd(&z);
    b.error = "deflateSetDictionary failed";
    return;
  }
  b.out.resize(deflateBound(&z, b.in.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(b.in.data());
  z.avail_in = static_cast<uInt>(b.in.size());
  size_t used = 0;
  const int flush = b.last ? Z_FINISH : Z_SYNC_FLUSH;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(b.out.data() + used);
    z.avail_out = static_cast<uInt>(b.out.size() - used);
    int r = deflate(&z, flush);
    used = b.out.size() - z.avail_out;
    if (r == Z_STREAM_ERROR) {
      b.error = "deflate failed";
      break;
    }
    bool complete = b.last ? r == Z_STREAM_END : (z.avail_in == 0 && z.avail_out > 0);
    if (complete) break;
    b.out.resize(b.out.size() * 2);
  }
  b.out.resize(used);
  deflateEnd(&z);
  b.in.clear();
  b.in.shrink_to_fit();
  b.dict.clear();
}

void PutLe32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

GzipWriter::GzipWriter(Sink sink, int level, int threads, size_t block_size)
    : sink_(std::move(sink)),
      level_(level > 0 ? std::min(level, 9) : 6),
      threads_(std::max(1, threads)),
      block_size_(std::max(block_size, kWindow)) {}

GzipWriter::~GzipWriter() {
  // Jobs still running own their block (shared_ptr); nothing to wait for.
}

Status GzipWriter::Write(const void* data, size_t n) {
  if (failed_) return MakeError(ErrorCode::kFailed, "gzip: write after an error");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    // A full block is sent only when more input arrives: Finish sends the last one, so the
    // final block is empty only for empty input.
    if (cur_.size() == block_size_) CB_TRY(Submit(false));
    if (cur_.capacity() < block_size_) cur_.reserve(block_size_);
    size_t take = std::min(n, block_size_ - cur_.size());
    cur_.append(p, take);
    p += take;
    n -= take;
    length_ += take;
  }
  return Ok();
}

Status GzipWriter::Submit(bool last) {
  auto b = std::make_shared<Block>();
  b->in = std::move(cur_);
  b->dict = dict_;
  b->last = last;
  b->level = level_;
  size_t keep = std::min(kWindow, b->in.size());
  dict_.assign(b->in, b->in.size() - keep, keep);
  cur_ = std::string();
  if (threads_ <= 1) {
    CompressBlock(*b);
    std::promise<void> p;
    b->done = p.get_future();
    p.set_value();
    pending_.push_back(std::move(b));
    return EmitFront();
  }
  // The task's shared state (which b->done refers to) keeps the callable: drop its reference
  // to the block once compressed, or block and state would hold each other forever.
  auto task = std::make_shared<std::packaged_task<void()>>([b]() mutable {
    CompressBlock(*b);
    b.reset();
  });
  b->done = task->get_future();
  BlockPool::Get().Post([task] { (*task)(); });
  pending_.push_back(std::move(b));
  // Write whatever is done, in order; block on the oldest only when too many are in flight.
  while (!pending_.empty()) {
    bool ready = pending_.front()->done.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    if (!ready && pending_.size() < 2 * static_cast<size_t>(threads_)) break;
    CB_TRY(EmitFront());
  }
  return Ok();
}

Status GzipWriter::EmitFront() {
  std::shared_ptr<Block> b = std::move(pending_.front());
  pending_.pop_front();
  b->done.wait();
  auto fail = [&](Error e) {
    failed_ = true;
    return e;
  };
  if (!b->error.empty()) return fail(MakeError(ErrorCode::kFailed, "gzip: {}", b->error));
  if (!header_written_) {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix)
    const char xfl = level_ == 9 ? 2 : level_ == 1 ? 4 : 0;
    const char header[10] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, xfl, 3};
    if (auto st = sink_(header, sizeof header); !st) return fail(st.error());
    header_written_ = true;
  }
  crc_ = static_cast<uint32_t>(crc32_combine(crc_, b->crc, static_cast<z_off_t>(b->in_size)));
  if (auto st = sink_(b->out.data(), b->out.size()); !st) return fail(st.error());
  return Ok();
}

Status GzipWriter::Finish() {
  if (failed_) return MakeError(ErrorCode::kFailed, "gzip: finish after an error");
  CB_TRY(Submit(true));
  while (!pending_.empty()) CB_TRY(EmitFront());
  std::string trailer;
  PutLe32(trailer, crc_);
  PutLe32(trailer, static_cast<uint32_t>(length_ & 0xffffffffu));
  return sink_(trailer.data(), trailer.size());
}

}  // namespace cb::snapshotter
