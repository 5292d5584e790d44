// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtTest/QTest>

/*!
    In a test function: skips it with \a why (a QString), except under
    CI=true, where a skip would hide a regression: it fails there.
*/
#define SKIP_OR_FAIL_UNDER_CI(why)                                                                 \
  do {                                                                                             \
    if (qEnvironmentVariable("CI") == QLatin1String("true"))                                       \
      QFAIL(qPrintable((why) + QStringLiteral(" (CI=true: this test must run there)")));           \
    QSKIP(qPrintable(why));                                                                        \
  } while (false)
