// ComputeKeys: every step's cache key, computed when the plan is made, before any step runs.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "planner/cache_key.h"
#include "planner/context_hasher.h"
#include "planner/plan.h"

namespace cb::planner {

/// ADD <url> without --checksum: what the URL's content contributes to the key (BuildKit keys
/// such a step on the downloaded content, so a changed remote file reruns it). The resolver
/// fetches the URL and keeps the download for the step; it must be safe to call from several
/// threads at once. Errors name the URL.
using UrlResolver = std::function<Result<UrlKeyInputs>(const std::string& url)>;

/// Fills, for every step of the needed stages: key_inputs' parent and content digests, key,
/// context_sources (COPY/ADD sources from the context after wildcard expansion: what the step
/// copies) and files (the listing behind the key, for miss explanations); and each needed
/// stage's key.
///
/// Every context source (COPY/ADD, RUN --mount=type=bind from the context) is expanded and
/// hashed here, all at the same time on the hasher's TBB pool, and every URL without
/// --checksum is resolved here (also concurrently); no lock is held across a TBB wait. A key
/// never depends on what a RUN produces: a stage read with --from is keyed by its stage's key.
///
/// Errors carry the Dockerfile location of the step they concern (the first such step in
/// plan order): a source missing from the context, a bad wildcard, a failed download.
/// `urls` may be empty when no step has a URL source without --checksum.
Status ComputeKeys(Plan& plan, ContextHasher& hasher, const UrlResolver& urls);

}  // namespace cb::planner
