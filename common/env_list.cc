#include "common/env_list.h"

namespace cb::env {
namespace {

bool Sets(std::string_view entry, std::string_view name) {
  return entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 && entry[name.size()] == '=';
}

}  // namespace

std::string DefaultPathEntry() { return "PATH=" + std::string(kDefaultPath); }

std::string_view NameOf(std::string_view entry) { return entry.substr(0, entry.find('=')); }

std::optional<std::string> Get(const std::vector<std::string>& env, std::string_view name) {
  for (auto it = env.rbegin(); it != env.rend(); ++it)
    if (Sets(*it, name)) return it->substr(name.size() + 1);
  return std::nullopt;
}

bool Has(const std::vector<std::string>& env, std::string_view name) {
  for (const std::string& e : env)
    if (Sets(e, name)) return true;
  return false;
}

void Set(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (std::string& e : env) {
    if (Sets(e, name)) {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

}  // namespace cb::env
