// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveOptions as a value: defaults, chaining, comparison, printing, the
// user timeout and detection bound arithmetic, and the validation table with
// the Linux limits (TCP_KEEPIDLE/TCP_KEEPINTVL 1..32767 s, TCP_KEEPCNT 1..127,
// TCP_USER_TIMEOUT from the library's 1 s minimum to INT_MAX ms).

#include <EffectiveKeepAliveOptions>
#include <KeepAliveOptions>
#include <KeepAliveSocket>

#include <QtCore/QDebug>
#include <QtCore/QMetaEnum>
#include <QtCore/QRandomGenerator>
#include <QtCore/QVariant>
#include <QtTest/QtTest>

#include <chrono>
#include <climits>
#include <iterator>

using namespace std::chrono;
using namespace std::chrono_literals;

using Field = KeepAliveOptions::Field;
using Fields = KeepAliveOptions::Fields;
using Mode = KeepAliveOptions::UserTimeoutMode;

Q_DECLARE_METATYPE(std::chrono::milliseconds)
Q_DECLARE_METATYPE(KeepAliveOptions::UserTimeoutMode)

namespace {

const Fields allFields = Fields(Field::Enabled) | Field::Idle | Field::Interval | Field::ProbeCount
        | Field::UserTimeout;

// The text after "<field> <value> is out of range <min>..<max>" for
// durations the kernel takes in whole seconds.
const QString secondsNote =
        QStringLiteral(" (sub-second values are rounded up to whole seconds on this platform)");

QString secondsRange(const QString &fieldAndValue)
{
    return fieldAndValue + QStringLiteral(" is out of range 1 ms..32767 s") + secondsNote;
}

QString userTimeoutRange(const QString &value)
{
    return QStringLiteral("user timeout %1 is out of range 1 s..2147483647 ms").arg(value);
}

// Below the 1 s minimum, the message says why there is one.
QString shortUserTimeout(const QString &value)
{
    return userTimeoutRange(value)
            + QStringLiteral(" (a shorter bound cuts off live peers that pause reading)");
}

QString automaticRange(const QString &value)
{
    return QStringLiteral("automatic user timeout (idle + interval \u00d7 probe count) %1 is out "
                          "of range 1 s..2147483647 ms (lower the values or set the user "
                          "timeout explicitly)")
            .arg(value);
}

template<typename Options>
QString debugText(const Options &options)
{
    QString text;
    // nospace(): QDebug's own separator after the last item is not part of the output.
    QDebug(&text).nospace() << options;
    return text;
}

} // namespace

class tst_KeepAliveOptions : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void defaults();
    void chainableSetters();
    void copyAndAssign();
    void compare_data();
    void compare();
    void equalOptionsBehaveAlike_data();
    void equalOptionsBehaveAlike();
    void variantRoundTrip();
    void debugOutput_data();
    void debugOutput();
    void debugOutputThroughQDebug();
    void userTimeout_data();
    void userTimeout();
    void detectionBound_data();
    void detectionBound();
    void idleDetectionBound_data();
    void idleDetectionBound();
    void validation_data();
    void validation();
    void shortUserTimeoutRejectedBySocket_data();
    void shortUserTimeoutRejectedBySocket();
    void extremeValuesAreWellDefined_data();
    void extremeValuesAreWellDefined();
    void randomValuesAreWellDefined();
    void effectiveOptions();
    void platformFields();
    void enumNames();
};

void tst_KeepAliveOptions::defaults()
{
    const KeepAliveOptions options;
    QVERIFY(options.isEnabled());
    QCOMPARE(options.idle(), 60s);
    QCOMPARE(options.interval(), 10s);
    QCOMPARE(options.probeCount(), 3);
    QCOMPARE(options.userTimeoutMode(), Mode::Automatic);
    QCOMPARE(options.userTimeout(), 90s);
    QCOMPARE(options.detectionBound(), 90s);
    QVERIFY(options.isValid());
    QCOMPARE(options.validationError(), QString());
}

void tst_KeepAliveOptions::chainableSetters()
{
    const KeepAliveOptions options =
            KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
    QCOMPARE(options.idle(), 10s);
    QCOMPARE(options.interval(), 2s);
    QCOMPARE(options.probeCount(), 3);
    QVERIFY(options.isEnabled());
    QCOMPARE(options.userTimeoutMode(), Mode::Automatic);
    QCOMPARE(options.userTimeout(), 16s);

    // Every setter returns the object it was called on.
    KeepAliveOptions target;
    QCOMPARE(&target.setEnabled(false), &target);
    QCOMPARE(&target.setIdle(5s), &target);
    QCOMPARE(&target.setInterval(1s), &target);
    QCOMPARE(&target.setProbeCount(7), &target);
    QCOMPARE(&target.setUserTimeout(4s), &target);
    QCOMPARE(&target.setUserTimeoutMode(Mode::Off), &target);
    QVERIFY(!target.isEnabled());
    QCOMPARE(target.idle(), 5s);
    QCOMPARE(target.interval(), 1s);
    QCOMPARE(target.probeCount(), 7);
    QCOMPARE(target.userTimeoutMode(), Mode::Off);

    const KeepAliveOptions all = KeepAliveOptions()
                                         .setEnabled(false)
                                         .setIdle(3s)
                                         .setInterval(4s)
                                         .setProbeCount(5)
                                         .setUserTimeout(6s);
    QVERIFY(!all.isEnabled());
    QCOMPARE(all.idle(), 3s);
    QCOMPARE(all.interval(), 4s);
    QCOMPARE(all.probeCount(), 5);
    QCOMPARE(all.userTimeoutMode(), Mode::Explicit);
    QCOMPARE(all.userTimeout(), 6s);
}

void tst_KeepAliveOptions::copyAndAssign()
{
    const KeepAliveOptions original =
            KeepAliveOptions().setIdle(11s).setInterval(3s).setProbeCount(4).setUserTimeout(2500ms);
    const KeepAliveOptions copy(original);
    QCOMPARE(copy, original);
    QCOMPARE(copy.idle(), 11s);
    QCOMPARE(copy.interval(), 3s);
    QCOMPARE(copy.probeCount(), 4);
    QCOMPARE(copy.userTimeoutMode(), Mode::Explicit);
    QCOMPARE(copy.userTimeout(), 2500ms);

    KeepAliveOptions assigned;
    QVERIFY(assigned != original);
    assigned = original;
    QCOMPARE(assigned, original);

    // A copy is independent of its source.
    KeepAliveOptions modified(original);
    modified.setProbeCount(9);
    QCOMPARE(original.probeCount(), 4);
    QVERIFY(modified != original);
}

void tst_KeepAliveOptions::compare_data()
{
    QTest::addColumn<KeepAliveOptions>("a");
    QTest::addColumn<KeepAliveOptions>("b");
    QTest::addColumn<bool>("equal");

    const KeepAliveOptions base = KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);

    QTest::newRow("default == default") << KeepAliveOptions() << KeepAliveOptions() << true;
    QTest::newRow("same values") << base
                                 << KeepAliveOptions().setProbeCount(3).setInterval(2s).setIdle(10s)
                                 << true;
    QTest::newRow("enabled") << base << KeepAliveOptions(base).setEnabled(false) << false;
    QTest::newRow("idle") << base << KeepAliveOptions(base).setIdle(11s) << false;
    QTest::newRow("idle by 1 ms") << base << KeepAliveOptions(base).setIdle(10001ms) << false;
    QTest::newRow("interval") << base << KeepAliveOptions(base).setInterval(3s) << false;
    QTest::newRow("probe count") << base << KeepAliveOptions(base).setProbeCount(4) << false;
    QTest::newRow("explicit user timeout value")
            << KeepAliveOptions(base).setUserTimeout(5s)
            << KeepAliveOptions(base).setUserTimeout(6s) << false;
    QTest::newRow("same explicit user timeout")
            << KeepAliveOptions(base).setUserTimeout(5s)
            << KeepAliveOptions(base).setUserTimeout(5s) << true;
    // Same effective value (16 s), different mode: the automatic one follows
    // later changes of idle/interval/count, the explicit one does not.
    QTest::newRow("automatic vs explicit of the same value")
            << base << KeepAliveOptions(base).setUserTimeout(16s) << false;
    QTest::newRow("automatic vs off")
            << base << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off) << false;
    QTest::newRow("explicit vs off")
            << KeepAliveOptions(base).setUserTimeout(5s)
            << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off) << false;
    QTest::newRow("disabled: automatic vs off")
            << KeepAliveOptions(base).setEnabled(false)
            << KeepAliveOptions(base).setEnabled(false).setUserTimeoutMode(Mode::Off) << false;
    QTest::newRow("off == off") << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off)
                                << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off) << true;
}

void tst_KeepAliveOptions::compare()
{
    QFETCH(KeepAliveOptions, a);
    QFETCH(KeepAliveOptions, b);
    QFETCH(bool, equal);

    QCOMPARE(a == b, equal);
    QCOMPARE(b == a, equal);
    QCOMPARE(a != b, !equal);
    QCOMPARE(b != a, !equal);
}

void tst_KeepAliveOptions::equalOptionsBehaveAlike_data()
{
    QTest::addColumn<KeepAliveOptions>("a");
    QTest::addColumn<KeepAliveOptions>("b");
    QTest::addColumn<bool>("mustBeEqual");

    // setUserTimeoutMode(Explicit) brings back "the value last given" to
    // setUserTimeout(): that value is part of what an object will do.
    QTest::newRow("same explicit value, then off")
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Off)
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Off) << true;
    QTest::newRow("defaults") << KeepAliveOptions() << KeepAliveOptions() << true;
    QTest::newRow("off, different explicit values given earlier")
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Off)
            << KeepAliveOptions().setUserTimeout(7s).setUserTimeoutMode(Mode::Off) << false;
    QTest::newRow("automatic, an explicit value given earlier")
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Automatic)
            << KeepAliveOptions() << false;
}

void tst_KeepAliveOptions::equalOptionsBehaveAlike()
{
    QFETCH(KeepAliveOptions, a);
    QFETCH(KeepAliveOptions, b);
    QFETCH(bool, mustBeEqual);

    if (mustBeEqual)
        QVERIFY(a == b);
    // Objects that compare equal must stay equal under the same change;
    // otherwise KeepAliveSocket::setKeepAliveOptions() can replace its
    // options without keepAliveOptionsChanged().
    if (a == b) {
        const KeepAliveOptions explicitA = KeepAliveOptions(a).setUserTimeoutMode(Mode::Explicit);
        const KeepAliveOptions explicitB = KeepAliveOptions(b).setUserTimeoutMode(Mode::Explicit);
        QCOMPARE(explicitA.userTimeout().count(), explicitB.userTimeout().count());
        QCOMPARE(explicitA.validationError(), explicitB.validationError());
        QVERIFY(explicitA == explicitB);
    }
}

void tst_KeepAliveOptions::variantRoundTrip()
{
    const KeepAliveOptions options =
            KeepAliveOptions().setIdle(7s).setInterval(1500ms).setProbeCount(2).setUserTimeout(9s);
    const QVariant variant = QVariant::fromValue(options);
    QVERIFY(variant.canConvert<KeepAliveOptions>());
    QCOMPARE(variant.value<KeepAliveOptions>(), options);
    QVERIFY(QMetaType::fromType<KeepAliveOptions>().isValid());
}

void tst_KeepAliveOptions::debugOutput_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<QString>("expected");

    QTest::newRow("default") << KeepAliveOptions()
                             << QStringLiteral(
                                        "KeepAliveOptions(enabled, idle 60 s, interval 10 s, "
                                        "probes 3, user timeout automatic 90 s)");
    QTest::newRow("chosen") << KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3)
                            << QStringLiteral("KeepAliveOptions(enabled, idle 10 s, interval 2 s, "
                                              "probes 3, user timeout automatic 16 s)");
    QTest::newRow("sub-second") << KeepAliveOptions().setIdle(1500ms).setInterval(250ms)
                                << QStringLiteral("KeepAliveOptions(enabled, idle 1500 ms, "
                                                  "interval 250 ms, probes 3, user timeout "
                                                  "automatic 5 s)");
    QTest::newRow("explicit") << KeepAliveOptions().setUserTimeout(2500ms)
                              << QStringLiteral("KeepAliveOptions(enabled, idle 60 s, interval "
                                                "10 s, probes 3, user timeout 2500 ms)");
    QTest::newRow("off") << KeepAliveOptions().setUserTimeoutMode(Mode::Off)
                         << QStringLiteral("KeepAliveOptions(enabled, idle 60 s, interval 10 s, "
                                           "probes 3, user timeout off)");
    QTest::newRow("disabled") << KeepAliveOptions().setEnabled(false)
                              << QStringLiteral("KeepAliveOptions(disabled, idle 60 s, interval "
                                                "10 s, probes 3, user timeout automatic 0 ms)");
}

void tst_KeepAliveOptions::debugOutput()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(QString, expected);
    QCOMPARE(debugText(options), expected);
}

void tst_KeepAliveOptions::debugOutputThroughQDebug()
{
    // What a user sees with qDebug() << options.
    QTest::ignoreMessage(QtDebugMsg,
                         "KeepAliveOptions(enabled, idle 10 s, interval 2 s, probes 3, user "
                         "timeout automatic 16 s) after");
    qDebug() << KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3) << "after";
}

void tst_KeepAliveOptions::userTimeout_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<Mode>("mode");
    QTest::addColumn<milliseconds>("expected");

    QTest::newRow("automatic 10 + 2 x 3")
            << KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3) << Mode::Automatic
            << milliseconds(16s);
    QTest::newRow("automatic defaults")
            << KeepAliveOptions() << Mode::Automatic << milliseconds(90s);
    // TCP_KEEPIDLE/TCP_KEEPINTVL take whole seconds: 1500 ms is applied as 2 s
    // and 500 ms as 1 s, so the automatic bound is 2 + 1 x 3 s.
    QTest::newRow("automatic rounds sub-second up")
            << KeepAliveOptions().setIdle(1500ms).setInterval(500ms).setProbeCount(3)
            << Mode::Automatic << milliseconds(5s);
    QTest::newRow("automatic 1 ms values")
            << KeepAliveOptions().setIdle(1ms).setInterval(1ms).setProbeCount(1) << Mode::Automatic
            << milliseconds(2s);
    QTest::newRow("automatic 1001 ms rounds to 2 s")
            << KeepAliveOptions().setIdle(1001ms).setInterval(1001ms).setProbeCount(2)
            << Mode::Automatic << milliseconds(6s);
    QTest::newRow("automatic follows later changes")
            << KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3).setIdle(20s)
            << Mode::Automatic << milliseconds(26s);
    QTest::newRow("explicit") << KeepAliveOptions().setUserTimeout(2500ms) << Mode::Explicit
                              << milliseconds(2500ms);
    // TCP_USER_TIMEOUT is in milliseconds: no rounding.
    QTest::newRow("explicit sub-second")
            << KeepAliveOptions().setUserTimeout(1ms) << Mode::Explicit << milliseconds(1ms);
    QTest::newRow("explicit ignores idle/interval/count")
            << KeepAliveOptions().setUserTimeout(5s).setIdle(100s).setProbeCount(9)
            << Mode::Explicit << milliseconds(5s);
    QTest::newRow("explicit with keepalive disabled")
            << KeepAliveOptions().setEnabled(false).setUserTimeout(5s) << Mode::Explicit
            << milliseconds(5s);
    QTest::newRow("off") << KeepAliveOptions().setUserTimeoutMode(Mode::Off) << Mode::Off
                         << milliseconds(0ms);
    QTest::newRow("off after explicit")
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Off) << Mode::Off
            << milliseconds(0ms);
    QTest::newRow("explicit again keeps the value last given")
            << KeepAliveOptions().setUserTimeout(5s).setUserTimeoutMode(Mode::Off).setUserTimeoutMode(
                       Mode::Explicit)
            << Mode::Explicit << milliseconds(5s);
    QTest::newRow("back to automatic")
            << KeepAliveOptions().setIdle(10s).setInterval(2s).setUserTimeout(5s).setUserTimeoutMode(
                       Mode::Automatic)
            << Mode::Automatic << milliseconds(16s);
    QTest::newRow("automatic with keepalive disabled")
            << KeepAliveOptions().setEnabled(false).setIdle(10s).setInterval(2s) << Mode::Automatic
            << milliseconds(0ms);
}

void tst_KeepAliveOptions::userTimeout()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(Mode, mode);
    QFETCH(milliseconds, expected);

    QCOMPARE(options.userTimeoutMode(), mode);
    QCOMPARE(options.userTimeout(), expected);
}

void tst_KeepAliveOptions::detectionBound_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<milliseconds>("expected");

    const KeepAliveOptions base = KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
    const milliseconds none = milliseconds::max();

    QTest::newRow("default") << KeepAliveOptions() << milliseconds(90s);
    QTest::newRow("automatic") << base << milliseconds(16s);
    QTest::newRow("automatic, sub-second rounded up")
            << KeepAliveOptions().setIdle(1500ms).setInterval(500ms).setProbeCount(3)
            << milliseconds(5s);
    // A bound, not a prediction: the probe count still bounds an idle
    // connection where the platform counts probes (Linux itself gives up at
    // the first probe tick at or past the user timeout, 12 s here).
    QTest::newRow("explicit smaller")
            << KeepAliveOptions(base).setUserTimeout(5s) << milliseconds(16s);
    QTest::newRow("explicit equal")
            << KeepAliveOptions(base).setUserTimeout(16s) << milliseconds(16s);
    // Idle: Linux gives up at the first probe tick (10 + 2k s) at or past
    // the user timeout.
    QTest::newRow("explicit larger, on a probe tick")
            << KeepAliveOptions(base).setUserTimeout(30s) << milliseconds(30s);
    QTest::newRow("explicit larger, between probe ticks")
            << KeepAliveOptions(base).setUserTimeout(31s) << milliseconds(32s);
    QTest::newRow("explicit larger by 1 ms")
            << KeepAliveOptions(base).setUserTimeout(16001ms) << milliseconds(18s);
    QTest::newRow("off") << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off) << none;
    QTest::newRow("disabled") << KeepAliveOptions(base).setEnabled(false) << none;
    QTest::newRow("disabled, explicit user timeout")
            << KeepAliveOptions(base).setEnabled(false).setUserTimeout(5s) << none;
}

void tst_KeepAliveOptions::detectionBound()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(milliseconds, expected);
    QCOMPARE(options.detectionBound().count(), expected.count());
}

void tst_KeepAliveOptions::idleDetectionBound_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<milliseconds>("expected");

    const KeepAliveOptions base = KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
    const milliseconds none = milliseconds::max();

    QTest::newRow("automatic") << base << milliseconds(16s);
    // Nothing bounds data in flight, the idle connection is still bounded.
    QTest::newRow("off") << KeepAliveOptions(base).setUserTimeoutMode(Mode::Off)
                         << milliseconds(16s);
    QTest::newRow("explicit smaller")
            << KeepAliveOptions(base).setUserTimeout(5s) << milliseconds(16s);
    // Linux gives up at the first probe tick (10 + 2k s) at or past the user timeout.
    QTest::newRow("explicit larger, between probe ticks")
            << KeepAliveOptions(base).setUserTimeout(31s) << milliseconds(32s);
    QTest::newRow("sub-second rounded up")
            << KeepAliveOptions().setIdle(1500ms).setInterval(500ms).setProbeCount(3)
            << milliseconds(5s);
    QTest::newRow("disabled") << KeepAliveOptions(base).setEnabled(false) << none;
    QTest::newRow("invalid") << KeepAliveOptions(base).setProbeCount(0) << none;
}

void tst_KeepAliveOptions::idleDetectionBound()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(milliseconds, expected);
    QCOMPARE(options.idleDetectionBound().count(), expected.count());
}

void tst_KeepAliveOptions::validation_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<QString>("expectedError"); // empty: valid

    const KeepAliveOptions o;
    const QString valid;

    // idle: TCP_KEEPIDLE, whole seconds 1..32767; anything positive rounds up.
    QTest::newRow("idle 0") << KeepAliveOptions(o).setIdle(0ms)
                            << secondsRange(QStringLiteral("idle 0 ms"));
    QTest::newRow("idle 1 ms") << KeepAliveOptions(o).setIdle(1ms) << valid;
    QTest::newRow("idle 1 s") << KeepAliveOptions(o).setIdle(1s) << valid;
    QTest::newRow("idle sub-second 500 ms") << KeepAliveOptions(o).setIdle(500ms) << valid;
    QTest::newRow("idle 1500 ms") << KeepAliveOptions(o).setIdle(1500ms) << valid;
    QTest::newRow("idle max 32767 s") << KeepAliveOptions(o).setIdle(32767s) << valid;
    QTest::newRow("idle max+1 32768 s")
            << KeepAliveOptions(o).setIdle(32768s) << secondsRange(QStringLiteral("idle 32768 s"));
    QTest::newRow("idle max+1 ms (rounds up past max)")
            << KeepAliveOptions(o).setIdle(32767001ms)
            << secondsRange(QStringLiteral("idle 32767001 ms"));
    QTest::newRow("idle -1 ms") << KeepAliveOptions(o).setIdle(-1ms)
                                << secondsRange(QStringLiteral("idle -1 ms"));
    QTest::newRow("idle -10 s") << KeepAliveOptions(o).setIdle(-10s)
                                << secondsRange(QStringLiteral("idle -10 s"));
    QTest::newRow("idle huge")
            << KeepAliveOptions(o).setIdle(milliseconds::max())
            << secondsRange(QStringLiteral("idle %1 ms").arg(milliseconds::max().count()));

    // interval: TCP_KEEPINTVL, same limits.
    QTest::newRow("interval 0") << KeepAliveOptions(o).setInterval(0ms)
                                << secondsRange(QStringLiteral("interval 0 ms"));
    QTest::newRow("interval 1 ms") << KeepAliveOptions(o).setInterval(1ms) << valid;
    QTest::newRow("interval 1 s") << KeepAliveOptions(o).setInterval(1s) << valid;
    QTest::newRow("interval sub-second 250 ms") << KeepAliveOptions(o).setInterval(250ms) << valid;
    QTest::newRow("interval max 32767 s") << KeepAliveOptions(o).setInterval(32767s) << valid;
    QTest::newRow("interval max+1 32768 s") << KeepAliveOptions(o).setInterval(32768s)
                                            << secondsRange(QStringLiteral("interval 32768 s"));
    QTest::newRow("interval max+1 ms") << KeepAliveOptions(o).setInterval(32767001ms)
                                       << secondsRange(QStringLiteral("interval 32767001 ms"));
    QTest::newRow("interval -1 ms") << KeepAliveOptions(o).setInterval(-1ms)
                                    << secondsRange(QStringLiteral("interval -1 ms"));
    QTest::newRow("interval -2 s") << KeepAliveOptions(o).setInterval(-2s)
                                   << secondsRange(QStringLiteral("interval -2 s"));

    // probe count: TCP_KEEPCNT 1..127.
    QTest::newRow("probe count 0") << KeepAliveOptions(o).setProbeCount(0)
                                   << QStringLiteral("probe count 0 is out of range 1..127");
    QTest::newRow("probe count 1") << KeepAliveOptions(o).setProbeCount(1) << valid;
    QTest::newRow("probe count max 127") << KeepAliveOptions(o).setProbeCount(127) << valid;
    QTest::newRow("probe count max+1 128")
            << KeepAliveOptions(o).setProbeCount(128)
            << QStringLiteral("probe count 128 is out of range 1..127");
    QTest::newRow("probe count 200") << KeepAliveOptions(o).setProbeCount(200)
                                     << QStringLiteral("probe count 200 is out of range 1..127");
    QTest::newRow("probe count -1") << KeepAliveOptions(o).setProbeCount(-1)
                                    << QStringLiteral("probe count -1 is out of range 1..127");
    QTest::newRow("probe count INT_MIN")
            << KeepAliveOptions(o).setProbeCount(INT_MIN)
            << QStringLiteral("probe count %1 is out of range 1..127").arg(INT_MIN);

    // explicit user timeout: TCP_USER_TIMEOUT, int milliseconds, 0 would mean
    // off; at least 1 s, or a live peer that pauses reading is cut off.
    QTest::newRow("user timeout 0")
            << KeepAliveOptions(o).setUserTimeout(0ms) << shortUserTimeout(QStringLiteral("0 ms"));
    QTest::newRow("user timeout 1 ms")
            << KeepAliveOptions(o).setUserTimeout(1ms) << shortUserTimeout(QStringLiteral("1 ms"));
    QTest::newRow("user timeout sub-second 500 ms") << KeepAliveOptions(o).setUserTimeout(500ms)
                                                    << shortUserTimeout(QStringLiteral("500 ms"));
    QTest::newRow("user timeout 999 ms") << KeepAliveOptions(o).setUserTimeout(999ms)
                                         << shortUserTimeout(QStringLiteral("999 ms"));
    QTest::newRow("user timeout 1000 ms") << KeepAliveOptions(o).setUserTimeout(1000ms) << valid;
    QTest::newRow("user timeout 1 s") << KeepAliveOptions(o).setUserTimeout(1s) << valid;
    QTest::newRow("user timeout 1001 ms") << KeepAliveOptions(o).setUserTimeout(1001ms) << valid;
    QTest::newRow("user timeout max")
            << KeepAliveOptions(o).setUserTimeout(milliseconds(INT_MAX)) << valid;
    QTest::newRow("user timeout max+1")
            << KeepAliveOptions(o).setUserTimeout(milliseconds(qint64(INT_MAX) + 1))
            << userTimeoutRange(QStringLiteral("2147483648 ms"));
    QTest::newRow("user timeout -1 ms") << KeepAliveOptions(o).setUserTimeout(-1ms)
                                        << shortUserTimeout(QStringLiteral("-1 ms"));
    QTest::newRow("user timeout -1 s")
            << KeepAliveOptions(o).setUserTimeout(-1s) << shortUserTimeout(QStringLiteral("-1 s"));
    // A value given before switching off is not validated: it is not applied.
    QTest::newRow("user timeout off ignores a stored bad value")
            << KeepAliveOptions(o).setUserTimeout(-1s).setUserTimeoutMode(Mode::Off) << valid;

    // automatic user timeout: idle + interval x count, after rounding, must
    // fit TCP_USER_TIMEOUT. 17628 + 32767 x 65 = 2147483 s <= INT_MAX ms.
    const KeepAliveOptions large = KeepAliveOptions(o).setInterval(32767s).setProbeCount(65);
    QTest::newRow("automatic at max") << KeepAliveOptions(large).setIdle(17628s) << valid;
    QTest::newRow("automatic max+1 s") << KeepAliveOptions(large).setIdle(17629s)
                                       << automaticRange(QStringLiteral("2147484 s"));
    QTest::newRow("automatic at max after rounding")
            << KeepAliveOptions(large).setIdle(17627001ms) << valid;
    QTest::newRow("automatic past max only after rounding")
            << KeepAliveOptions(large).setIdle(17628001ms)
            << automaticRange(QStringLiteral("2147484 s"));
    QTest::newRow("automatic with every field at max")
            << KeepAliveOptions(o).setIdle(32767s).setInterval(32767s).setProbeCount(127)
            << automaticRange(QStringLiteral("4194176 s"));
    QTest::newRow("every field at max, explicit user timeout")
            << KeepAliveOptions(o)
                       .setIdle(32767s)
                       .setInterval(32767s)
                       .setProbeCount(127)
                       .setUserTimeout(milliseconds(INT_MAX))
            << valid;
    QTest::newRow("every field at max, user timeout off") << KeepAliveOptions(o)
                                                                     .setIdle(32767s)
                                                                     .setInterval(32767s)
                                                                     .setProbeCount(127)
                                                                     .setUserTimeoutMode(Mode::Off)
                                                          << valid;
    QTest::newRow("every field at max, keepalive disabled")
            << KeepAliveOptions(o).setIdle(32767s).setInterval(32767s).setProbeCount(127).setEnabled(
                       false)
            << valid;

    // Disabling keepalive does not make bad values acceptable: they are
    // still applied, for a later enable.
    QTest::newRow("disabled, idle 0") << KeepAliveOptions(o).setEnabled(false).setIdle(0ms)
                                      << secondsRange(QStringLiteral("idle 0 ms"));
    QTest::newRow("defaults") << o << valid;
}

void tst_KeepAliveOptions::validation()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(QString, expectedError);

    QCOMPARE(options.validationError(), expectedError);
    QCOMPARE(options.isValid(), expectedError.isEmpty());
}

void tst_KeepAliveOptions::shortUserTimeoutRejectedBySocket_data()
{
    QTest::addColumn<milliseconds>("userTimeout");
    QTest::addColumn<QString>("expectedError"); // empty: accepted

    const QString invalid = QStringLiteral("invalid keepalive options: ");
    QTest::newRow("999 ms") << milliseconds(999ms)
                            << invalid + shortUserTimeout(QStringLiteral("999 ms"));
    QTest::newRow("500 ms") << milliseconds(500ms)
                            << invalid + shortUserTimeout(QStringLiteral("500 ms"));
    QTest::newRow("1000 ms") << milliseconds(1000ms) << QString();
}

// What setKeepAliveOptions() makes of a user timeout below the 1 s minimum:
// false, InvalidOptions with the validation message, the previous options kept.
void tst_KeepAliveOptions::shortUserTimeoutRejectedBySocket()
{
    QFETCH(milliseconds, userTimeout);
    QFETCH(QString, expectedError);

    KeepAliveSocket socket;
    const KeepAliveOptions previous = KeepAliveOptions().setIdle(10s).setInterval(2s);
    QVERIFY(socket.setKeepAliveOptions(previous));
    QSignalSpy changed(&socket, &KeepAliveSocket::keepAliveOptionsChanged);

    const KeepAliveOptions asked = KeepAliveOptions(previous).setUserTimeout(userTimeout);
    if (!expectedError.isEmpty())
        QTest::ignoreMessage(QtWarningMsg, qPrintable(expectedError));
    const bool accepted = socket.setKeepAliveOptions(asked);
    QCOMPARE(accepted, expectedError.isEmpty());
    QCOMPARE(socket.keepAliveErrorString(), expectedError);
    if (accepted) {
        QCOMPARE(socket.keepAliveError(), KeepAliveSocket::KeepAliveError::NoError);
        QCOMPARE(socket.keepAliveOptions(), asked);
        QCOMPARE(socket.keepAliveOptions().userTimeout(), userTimeout);
        QCOMPARE(changed.count(), 1);
    } else {
        QCOMPARE(socket.keepAliveError(), KeepAliveSocket::KeepAliveError::InvalidOptions);
        QCOMPARE(socket.keepAliveOptions(), previous);
        QCOMPARE(changed.count(), 0);
    }
}

// Rejected values are still held (validation reports them), so everything
// that reads them must be well defined: no signed overflow, checked with
// UBSan (-fno-sanitize-recover) in the sanitizer build.
void tst_KeepAliveOptions::extremeValuesAreWellDefined_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<milliseconds>("userTimeout");
    QTest::addColumn<QString>("errorStart"); // what validationError() begins with

    const milliseconds max = milliseconds::max();
    const milliseconds min = milliseconds::min();
    const KeepAliveOptions o;

    // Automatic: idle + interval x count, saturated, whatever the signs.
    QTest::newRow("probe count -1") << KeepAliveOptions(o).setProbeCount(-1) << milliseconds(50s)
                                    << QStringLiteral("probe count -1 ");
    QTest::newRow("probe count INT_MAX") << KeepAliveOptions(o).setProbeCount(INT_MAX)
                                         << milliseconds(60000 + 10000 * qint64(INT_MAX))
                                         << QStringLiteral("probe count 2147483647 ");
    QTest::newRow("interval -1 ms") << KeepAliveOptions(o).setInterval(-1ms) << milliseconds(59997)
                                    << QStringLiteral("interval -1 ms ");
    QTest::newRow("interval min") << KeepAliveOptions(o).setInterval(min) << min + 60s
                                  << QStringLiteral("interval ");
    QTest::newRow("interval min, probe count -1")
            << KeepAliveOptions(o).setInterval(min).setProbeCount(-1) << max
            << QStringLiteral("interval ");
    QTest::newRow("idle max, interval -1 s") << KeepAliveOptions(o).setIdle(max).setInterval(-1s)
                                             << max - 3s << QStringLiteral("idle ");
    QTest::newRow("idle min, interval min")
            << KeepAliveOptions(o).setIdle(min).setInterval(min) << min << QStringLiteral("idle ");
    QTest::newRow("every field max")
            << KeepAliveOptions(o).setIdle(max).setInterval(max).setProbeCount(INT_MAX) << max
            << QStringLiteral("idle ");
    // Explicit: the value as given.
    QTest::newRow("interval = user timeout = max")
            << KeepAliveOptions(o).setInterval(max).setUserTimeout(max) << max
            << QStringLiteral("interval ");
    QTest::newRow("user timeout max")
            << KeepAliveOptions(o).setUserTimeout(max) << max << QStringLiteral("user timeout ");
    QTest::newRow("user timeout min")
            << KeepAliveOptions(o).setUserTimeout(min) << min << QStringLiteral("user timeout ");
    QTest::newRow("idle 1 ms, interval max, user timeout max")
            << KeepAliveOptions(o).setIdle(1ms).setInterval(max).setUserTimeout(max) << max
            << QStringLiteral("interval ");
}

void tst_KeepAliveOptions::extremeValuesAreWellDefined()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(milliseconds, userTimeout);
    QFETCH(QString, errorStart);

    QCOMPARE(options.userTimeout().count(), userTimeout.count());
    // Rejected values give no bound.
    QCOMPARE(options.detectionBound().count(), milliseconds::max().count());
    QVERIFY2(options.validationError().startsWith(errorStart),
             qPrintable(options.validationError()));
    QVERIFY(!options.isValid());
    const KeepAliveOptions copy(options);
    QVERIFY(copy == options);
    QVERIFY(!(copy != options));
    QVERIFY(options != KeepAliveOptions());
    QVERIFY(debugText(options).startsWith(QLatin1String("KeepAliveOptions(enabled, idle ")));
}

namespace {

milliseconds extremeDuration(QRandomGenerator &random)
{
    static const milliseconds picks[] = {
            milliseconds::min(),
            milliseconds::max(),
            -1ms,
            0ms,
            1ms,
            999ms,
            1000ms,
            1001ms,
            milliseconds(INT_MAX),
            milliseconds(qint64(INT_MAX) + 1),
            32767s,
            milliseconds::min() + 1ms,
            milliseconds::max() - 1ms,
    };
    const quint32 pick = random.bounded(quint32(std::size(picks) + 3));
    if (pick < std::size(picks))
        return picks[pick];
    if (pick == std::size(picks))
        return milliseconds(qint64(random.generate64()));
    if (pick == std::size(picks) + 1)
        return milliseconds(random.bounded(-100000, 100000));
    return milliseconds(random.bounded(1, 3600000)); // mostly valid
}

int extremeCount(QRandomGenerator &random)
{
    static const int picks[] = {INT_MIN, INT_MAX, -1, 0, 1, 2, 127, 128, 999, 1000, 1001};
    const quint32 pick = random.bounded(quint32(std::size(picks) + 2));
    if (pick < std::size(picks))
        return picks[pick];
    if (pick == std::size(picks))
        return int(random.generate());
    return random.bounded(1, 128); // valid
}

Mode randomMode(QRandomGenerator &random)
{
    static const Mode modes[] = {Mode::Automatic, Mode::Explicit, Mode::Off};
    return modes[random.bounded(quint32(std::size(modes)))];
}

KeepAliveOptions randomOptions(QRandomGenerator &random)
{
    KeepAliveOptions options;
    options.setEnabled(random.bounded(2) == 0)
            .setIdle(extremeDuration(random))
            .setInterval(extremeDuration(random))
            .setProbeCount(extremeCount(random));
    // Every way to reach a mode: the explicit value may be given and then left.
    if (random.bounded(2) == 0)
        options.setUserTimeout(extremeDuration(random));
    options.setUserTimeoutMode(randomMode(random));
    return options;
}

} // namespace

// The same as extremeValuesAreWellDefined(), for every combination the
// extremes give: a fixed seed, so that a failure can be replayed.
void tst_KeepAliveOptions::randomValuesAreWellDefined()
{
    constexpr quint32 seed = 20240611;
    constexpr int iterations = 20000;
    QRandomGenerator random(seed);
    const milliseconds max = milliseconds::max();
    int bounds = 0; // valid options with a finite bound: the arithmetic ran

    for (int i = 0; i < iterations; ++i) {
        const KeepAliveOptions a = randomOptions(random);
        const KeepAliveOptions b = randomOptions(random);
        const QString where =
                QStringLiteral("seed %1, iteration %2: %3").arg(seed).arg(i).arg(debugText(a));

        // Every getter, in the order a user might call them.
        (void)a.isEnabled();
        (void)a.idle();
        (void)a.interval();
        (void)a.probeCount();
        (void)a.userTimeoutMode();
        const milliseconds userTimeout = a.userTimeout();
        const milliseconds bound = a.detectionBound();
        const QString error = a.validationError();
        QVERIFY2(a.isValid() == error.isEmpty(), qPrintable(where));
        QVERIFY2(error.isEmpty() || error.contains(QLatin1String(" is out of range ")),
                 qPrintable(where + QLatin1String(" -> ") + error));
        // A bound is a positive duration, or none at all.
        QVERIFY2(bound > 0ms, qPrintable(where));
        if (a.isValid()) {
            const bool bounded = a.isEnabled() && a.userTimeoutMode() != Mode::Off;
            QVERIFY2((bound < max) == bounded, qPrintable(where));
            if (bounded) {
                QVERIFY2(bound >= userTimeout, qPrintable(where));
                ++bounds;
            }
        }

        const KeepAliveOptions copy(a);
        QVERIFY2(copy == a && !(copy != a), qPrintable(where));
        QVERIFY2((a == b) == (b == a), qPrintable(where));
        QVERIFY2((a != b) == !(a == b), qPrintable(where));
        QVERIFY2(debugText(b).startsWith(QLatin1String("KeepAliveOptions(")), qPrintable(where));
    }
    // About 1 % of these draws (188 with this seed): enough to cover the bound's arithmetic.
    QVERIFY2(bounds >= 100, qPrintable(QString::number(bounds)));
}

// The read-back type: empty fields are unknown, never invented.
void tst_KeepAliveOptions::effectiveOptions()
{
    const EffectiveKeepAliveOptions unknown;
    QCOMPARE(unknown.knownFields(), Fields());
    QVERIFY(unknown.isEmpty());
    QCOMPARE(debugText(unknown),
             QStringLiteral(
                     "EffectiveKeepAliveOptions(enabled unknown, idle unknown, interval unknown, "
                     "probes unknown, user timeout unknown)"));

    EffectiveKeepAliveOptions some;
    some.enabled = true;
    some.idle = 10s;
    some.userTimeout = 0ms;
    QCOMPARE(some.knownFields(), Fields(Field::Enabled) | Field::Idle | Field::UserTimeout);
    QVERIFY(!some.isEmpty());
    QCOMPARE(debugText(some),
             QStringLiteral("EffectiveKeepAliveOptions(enabled, idle 10 s, interval unknown, "
                            "probes unknown, user timeout off)"));
    QVERIFY(some != unknown);
    EffectiveKeepAliveOptions same = some;
    QVERIFY(same == some);
    same.probeCount = 3;
    QVERIFY(same != some);
    QCOMPARE(same.knownFields(), some.knownFields() | Field::ProbeCount);
    // A read-back is no request.
    static_assert(!std::is_convertible_v<EffectiveKeepAliveOptions, KeepAliveOptions>);
}

void tst_KeepAliveOptions::platformFields()
{
    // Linux sets and reads back all five per socket.
    QCOMPARE(KeepAliveOptions::supportedFields(), allFields);
    QCOMPARE(KeepAliveOptions::readableFields(), allFields);
}

void tst_KeepAliveOptions::enumNames()
{
    const QMetaEnum mode = QMetaEnum::fromType<Mode>();
    QVERIFY(mode.isValid());
    QCOMPARE(mode.keyCount(), 3);
    QCOMPARE(mode.valueToKey(int(Mode::Automatic)), "Automatic");
    QCOMPARE(mode.valueToKey(int(Mode::Explicit)), "Explicit");
    QCOMPARE(mode.valueToKey(int(Mode::Off)), "Off");

    const QMetaEnum fields = QMetaEnum::fromType<Fields>();
    QVERIFY(fields.isValid());
    QVERIFY(fields.isFlag());
    QCOMPARE(fields.valueToKeys(int(Fields(Field::Idle) | Field::ProbeCount)),
             QByteArray("Idle|ProbeCount"));
    QCOMPARE(fields.keysToValue("Enabled|Idle|Interval|ProbeCount|UserTimeout"), int(allFields));
}

QTEST_GUILESS_MAIN(tst_KeepAliveOptions)
#include "tst_keepaliveoptions.moc"
