// The progress renderers' pure parts (text fitting, output tails, tty frames) and the json
// event stream, without a build or a terminal.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "progress/progress.h"
#include "progress/progress_view.h"

using namespace cb;
using namespace cb::progress::view;

TEST_CASE("DisplayWidth and FitWidth count terminal columns, not bytes") {
  CHECK(DisplayWidth("abc") == 3);
  CHECK(DisplayWidth("h\xc3\xa9llo") == 5);          // é: two bytes, one column
  CHECK(DisplayWidth("\xe6\xbc\xa2\xe5\xad\x97") == 4);  // two CJK characters, two columns each
  CHECK(DisplayWidth("e\xcc\x81") == 1);              // combining accent
  CHECK(DisplayWidth("\xff") == 1);                   // invalid byte
  CHECK(FitWidth("abcdef", 4) == "abcd");
  CHECK(FitWidth("abc", 10) == "abc");
  CHECK(FitWidth("h\xc3\xa9llo", 2) == "h\xc3\xa9");  // never splits a sequence
  CHECK(FitWidth("\xe6\xbc\xa2\xe5\xad\x97", 3) == "\xe6\xbc\xa2");  // a wide char that would overflow stays out
  CHECK(FitWidth("abc", 0).empty());
}

TEST_CASE("SanitizeLine keeps what a terminal would show, and nothing that moves the cursor") {
  CHECK(SanitizeLine("plain") == "plain");
  CHECK(SanitizeLine("\x1b[31mred\x1b[0m text") == "red text");
  CHECK(SanitizeLine("10%\r50%\r100%") == "100%");
  CHECK(SanitizeLine("done\r") == "done");
  CHECK(SanitizeLine("a\tb") == "a       b");
  CHECK(SanitizeLine("\x1b]0;title\x07shown") == "shown");
  CHECK(SanitizeLine("bell\x07 and \x08" "back") == "bell and back");
  CHECK(SanitizeLine("up\x1b[2Ahere") == "uphere");
  CHECK(SanitizeLine("bad\xff byte") == "bad? byte");
  CHECK(SanitizeLine("c1\xc2\x9b" "31m") == "c131m");  // C1 CSI dropped
  CHECK(SanitizeLine("\xe6\xbc\xa2") == "\xe6\xbc\xa2");
}

TEST_CASE("FormatSeconds") {
  CHECK(FormatSeconds(0.04) == "0.0s");
  CHECK(FormatSeconds(2.345) == "2.3s");
  CHECK(FormatSeconds(59.9) == "59.9s");
  CHECK(FormatSeconds(123) == "2m03s");
  CHECK(FormatSeconds(-1) == "0.0s");
}

TEST_CASE("TailBuffer keeps the last lines, each bounded") {
  TailBuffer t(3, 8);
  CHECK(t.Last(6).empty());
  for (int i = 1; i <= 5; ++i) t.Push("line" + std::to_string(i));
  CHECK(t.size() == 3);
  CHECK(t.pushed() == 5);
  CHECK(t.Last(6) == std::vector<std::string>{"line3", "line4", "line5"});
  CHECK(t.Last(2) == std::vector<std::string>{"line4", "line5"});
  t.Push("0123456789abcdef");
  CHECK(t.Last(1) == std::vector<std::string>{"01234567"});
  t.Push("1234567\xc3\xa9");  // the cut does not split é
  CHECK(t.Last(1) == std::vector<std::string>{"1234567"});
  t.Clear();
  CHECK(t.size() == 0);
}

namespace {

View TwoRunning() {
  View v;
  auto& a = v.Step(1, 0);
  a.label = "one 2/2";
  a.text = "RUN make one";
  auto& b = v.Step(2, 0.5);
  b.label = "two 2/2";
  b.text = "RUN make two";
  for (int i = 1; i <= 8; ++i) v.Step(1, 0).tail.Push("one-" + std::to_string(i));
  v.Step(2, 0).tail.Push("two-1");
  return v;
}

}  // namespace

TEST_CASE("a frame shows every running step with its timer and its last output lines") {
  View v = TwoRunning();
  View::Frame f = v.Next(2.0, 60, 30);
  CHECK(f.commit.empty());
  REQUIRE(f.live.size() == 1 + 1 + 6 + 1 + 1);
  CHECK(f.live[0] == "[+] Building 2.0s (0/2)");
  CHECK(f.live[1].rfind("#1 [one 2/2] RUN make one", 0) == 0);
  CHECK(f.live[1].size() == 59);
  CHECK(f.live[1].substr(55) == "2.0s");
  CHECK(f.live[2] == "    one-3");
  CHECK(f.live[7] == "    one-8");
  CHECK(f.live[8].substr(55) == "1.5s");
  CHECK(f.live[9] == "    two-1");
}

TEST_CASE("finished steps show their mark and no output; the summary lists steps by number") {
  View v = TwoRunning();
  auto& b = v.Step(2, 0);
  b.state = StepState::kDone;
  b.seconds = 1.25;
  v.Step(3, 1).state = StepState::kCached;
  v.Step(3, 1).text = "FROM busybox";
  View::Frame f = v.Next(3.0, 40, 30);
  CHECK(f.live.size() == 1 + 1 + 6 + 1 + 1);
  CHECK(f.live[8].substr(30) == "DONE 1.2s");
  CHECK(f.live[9].substr(33) == "CACHED");
  v.Step(1, 0).state = StepState::kError;
  v.Step(1, 0).seconds = 3;
  v.AddNote("writing image sha256:abc done");
  auto fin = v.Final(3.5, 40, true);
  REQUIRE(fin.size() == 5);
  CHECK(fin[0] == "[+] Building 3.5s (3/3) ERROR");
  CHECK(fin[1].substr(29) == "ERROR 3.0s");
  CHECK(fin[4] == " => writing image sha256:abc done");
  auto report = v.FailureReport();
  REQUIRE(report.size() == 2 + 8 + 1);
  CHECK(report[0] == "------");
  CHECK(report[1] == " > [one 2/2] RUN make one:");
  CHECK(report[2] == "one-1");
  CHECK(report[9] == "one-8");
  CHECK(report[10] == "------");
  for (int i = 9; i <= 30; ++i) v.Step(1, 0).tail.Push("one-" + std::to_string(i));
  report = v.FailureReport();
  REQUIRE(report.size() == 2 + 1 + StepView::kKeptLines + 1);
  CHECK(report[2] == "(10 earlier lines not shown)");
  CHECK(report[3] == "one-11");
  CHECK(report[22] == "one-30");
}

TEST_CASE("a short terminal: finished steps move above the live region, then tails shrink") {
  View v;
  for (int n = 1; n <= 6; ++n) {
    auto& s = v.Step(n, 0);
    s.text = "RUN step " + std::to_string(n);
    s.state = StepState::kDone;
  }
  auto& r = v.Step(7, 0);
  r.text = "RUN running";
  for (int i = 0; i < 10; ++i) r.tail.Push("out" + std::to_string(i));
  View::Frame f = v.Next(1, 40, 8);  // 7 lines may be live
  CHECK(f.commit.size() == 6);
  CHECK(f.live.size() == 1 + 1 + 5);
  CHECK(f.live.back() == "    out9");
  f = v.Next(1.1, 40, 8);
  CHECK(f.commit.empty());  // committed once, never again
  f = v.Next(1.1, 40, 3);
  CHECK(f.live.size() == 2);
  // the final summary holds what was not committed yet; a step still running was cut short
  auto fin = v.Final(2, 40, true);
  CHECK(fin.size() == 2);
  CHECK(fin[0] == "[+] Building 2.0s (7/7) ERROR");
  CHECK(fin[1].substr(31) == "CANCELED");
}

TEST_CASE("Compose redraws the live region in place, in one piece") {
  View::Frame f{{"kept"}, {"a", "b"}};
  CHECK(Compose(0, f) == "\rkept\x1b[K\na\x1b[K\nb\x1b[K\n\x1b[J");
  CHECK(Compose(3, f) == "\r\x1b[3Akept\x1b[K\na\x1b[K\nb\x1b[K\n\x1b[J");
}

TEST_CASE("json progress: one parseable object per event, errors with their location") {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* mem = ::open_memstream(&buf, &len);
  REQUIRE(mem != nullptr);
  {
    auto p = progress::NewJsonProgress(mem);
    p->Started(2, "build 2/3", "RUN make");
    p->CacheMiss(2, "the instruction changed");
    p->Output(2, "bad \xff byte \"quoted\"");
    p->Done(2, 1.23456);
    p->Started(3, "1/2", "RUN false");
    p->Failed(3, "exit code: 1");
    p->Note("writing image");
    Error e{ErrorCode::kStepFailed, "RUN false: exit code: 1", SourceLocation{"Dockerfile", 4, 1}, 1};
    p->BuildFailed(e, "ignored text\n");
  }
  std::fclose(mem);
  std::istringstream in(std::string(buf, len));
  std::free(buf);
  std::vector<nlohmann::json> evs;
  for (std::string line; std::getline(in, line);) evs.push_back(nlohmann::json::parse(line));
  REQUIRE(evs.size() == 8);
  for (const auto& e : evs) CHECK(e.contains("time"));
  CHECK(evs[0]["event"] == "started");
  CHECK(evs[0]["stage"] == "build");
  CHECK(evs[0]["position"] == "2/3");
  CHECK(evs[0]["instruction"] == "RUN make");
  CHECK(evs[1]["reason"] == "the instruction changed");
  CHECK(evs[2]["line"] == "bad \xef\xbf\xbd byte \"quoted\"");
  CHECK(evs[3]["seconds"] == doctest::Approx(1.235));
  CHECK(evs[4]["stage"] == "");
  CHECK(evs[5]["event"] == "failed");
  CHECK(evs[6]["message"] == "writing image");
  CHECK(evs[7]["event"] == "error");
  CHECK(evs[7]["location"] == "Dockerfile:4:1");
  CHECK(evs[7]["line"] == 4);
  CHECK(evs[7]["column"] == 1);
  CHECK(evs[7]["step"] == 3);
  CHECK(evs[7]["exit_code"] == 1);
}

TEST_CASE("auto mode is plain when stderr is not a terminal") {
  CHECK(progress::ResolveProgressMode("json", 2) == "json");
  CHECK(progress::ResolveProgressMode("auto", -1) == "plain");
}
