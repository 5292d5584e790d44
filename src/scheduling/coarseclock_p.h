// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the clock read on every notification and write. Not installed.

#include <QtCore/qglobal.h>

#include <chrono>

#include <time.h>

/*!
    Monotonic nanoseconds from a coarse clock: a memory read (about 3 ns
    measured) where the platform has one, its resolution (a few ms) far
    below any quiet gap or bound it is compared with.
*/
inline qint64 coarseNowNs()
{
#if defined(CLOCK_MONOTONIC_COARSE)
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return qint64(now.tv_sec) * 1000000000 + now.tv_nsec;
#else
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
#endif
}

//! The coarse clock's resolution, at most (Linux: one jiffy at HZ=100).
constexpr qint64 CoarseClockResolutionNs = 10000000;
