// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// The platform layer's platform-independent part.
#include "keepaliveplatform_p.h"

using namespace std::chrono;

namespace KeepAlivePlatform {

milliseconds roundUp(milliseconds value, const DurationLimit &limit)
{
    const auto step = limit.granularity.count();
    if (value.count() <= 0 || step <= 1)
        return value;
    if (value.count() > milliseconds::max().count() - (step - 1))
        return milliseconds::max();
    return milliseconds((value.count() + step - 1) / step * step);
}

} // namespace KeepAlivePlatform
