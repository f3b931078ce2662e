// cb::Result<T>: a value or an Error, shaped like std::expected (absent from g++ 12 in C++20).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/core.h>

namespace cb {

/// What kind of failure an Error is; callers branch on this, users read the message.
enum class ErrorCode {
  kFailed,           ///< generic failure (the message says why)
  kInvalidArgument,  ///< bad user input (flag, name, reference)
  kNotFound,         ///< a file, image, blob or key does not exist
  kExists,           ///< something that must be new already exists
  kSyntax,           ///< a Dockerfile or other text did not parse
  kIo,               ///< an OS call failed (errno in the message)
  kCorrupt,          ///< stored data fails its digest or size check
  kUnsupported,      ///< valid, but not implemented here
  kCancelled,        ///< interrupted by the user or a sibling failure
  kStepFailed,       ///< a RUN step (or container) exited non-zero
};

/// A place in a text file (1-based line and column; 0 = unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int col = 0;
};

/// An error as a value: code, human-readable message, optional source location.
struct Error {
  ErrorCode code = ErrorCode::kFailed;
  std::string message;
  std::optional<SourceLocation> where;
  int exit_code = 0;  ///< for kStepFailed: the process' exit status

  /// "file:line:col: message" when a location is known, else the message.
  std::string ToString() const;
};

/// Builds an Error with a fmt-formatted message.
template <typename... Args>
Error MakeError(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Error{code, fmt::format(f, std::forward<Args>(args)...), std::nullopt, 0};
}

/// Error for a failed OS call: "<what>: <strerror(err)>".
Error ErrnoError(int err, std::string_view what);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT implicit by design
  Result(Error error) : v_(std::move(error)) {}            // NOLINT implicit by design
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Error> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& u) : v_(T(std::forward<U>(u))) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT implicit by design

  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const {}
  const Error& error() const& { return *e_; }
  Error&& error() && { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;
inline Status Ok() { return {}; }

}  // namespace cb

/// Evaluates a Result expression; on error returns the Error from the enclosing function,
/// otherwise yields the value (GNU statement expression; g++ and clang).
#define CB_TRY(expr)                                  \
  ({                                                  \
    auto&& cb_try_r_ = (expr);                        \
    if (!cb_try_r_) return std::move(cb_try_r_).error(); \
    std::move(cb_try_r_).value();                     \
  })

/// Like CB_TRY, but prefixes the message with context: CB_TRY_CTX(f(), "load `{}`", path).
#define CB_TRY_CTX(expr, ...)                                                   \
  ({                                                                            \
    auto&& cb_try_r_ = (expr);                                                  \
    if (!cb_try_r_) {                                                           \
      ::cb::Error cb_e_ = std::move(cb_try_r_).error();                         \
      cb_e_.message = fmt::format(__VA_ARGS__) + ": " + cb_e_.message;          \
      return cb_e_;                                                             \
    }                                                                           \
    std::move(cb_try_r_).value();                                               \
  })
