// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the library's logging category, "qtkeepalive.socket". Not installed.

#include <QtCore/QLoggingCategory>

Q_DECLARE_LOGGING_CATEGORY(lcKeepAlive)
