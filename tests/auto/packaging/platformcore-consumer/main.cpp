// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// A user of the platform core alone: plain C++17, no Qt anywhere on the
// include path or the link line (see platformcore.cmake). Plans the usual
// settings for the running platform and prints the steps; prints "OK" and
// exits 0, or names what failed.

#include "keepaliveplatformcore_p.h"

#include <cstdio>
#include <string>

using namespace std::chrono_literals;

namespace Core = KeepAliveCore;

int main()
{
    Core::Settings settings;
    settings.idle = 10s;
    settings.interval = 1500ms;
    settings.probeCount = 3;
    settings.userTimeout = 16s;
    const Core::Plan plan = Core::plan(settings, Core::profile());
    for (const Core::Step &step : plan) {
        std::string text = Core::describe(Core::Refusal{step, 0});
        if (step.action != Core::Step::Action::Refuse)
            text.resize(text.find(" refused: "));
        std::printf("%s\n", text.c_str());
    }
    if (plan.empty() || std::string(plan.front().name) != "SO_KEEPALIVE") {
        std::printf("FAILED: the plan does not start with SO_KEEPALIVE\n");
        return 1;
    }
    if (Core::roundUp(1500ms, Core::DurationLimit{1ms, 10s, 1s}) != 2s) {
        std::printf("FAILED: 1500 ms does not round up to 2 s\n");
        return 1;
    }
    if (Core::osErrorFromCode(0) != Core::OsError::None || Core::errorText(1).empty()) {
        std::printf("FAILED: error mapping\n");
        return 1;
    }
    std::printf("OK\n");
    return 0;
}
