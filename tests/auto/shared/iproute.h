// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Running iproute2's `ip` from the tests that build network namespaces
// (deadpeernetns, examples, httpserver, websocketserver). Root only; every
// command bounded in time.

#include "skiporfail.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDebug>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <unistd.h>

namespace IpRoute {

//! How long one `ip` command may take.
constexpr int CommandTimeoutMs = 10000;

//! The `ip` program, also where /sbin is not on PATH; empty if not installed.
inline QString program()
{
    QString found = QStandardPaths::findExecutable(QStringLiteral("ip"));
    if (found.isEmpty())
        found = QStandardPaths::findExecutable(
                QStringLiteral("ip"), {QStringLiteral("/usr/sbin"), QStringLiteral("/sbin")});
    return found;
}

/*!
    Runs `ip <arguments>` (split at spaces), bounded in time. On failure
    returns false and sets *error to the command and its output.
*/
inline bool run(const QString &arguments, QString *error = nullptr)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program(), arguments.split(QLatin1Char(' '), Qt::SkipEmptyParts));
    QString problem;
    if (!process.waitForStarted(CommandTimeoutMs)) {
        problem = process.errorString();
    } else if (!process.waitForFinished(CommandTimeoutMs)) {
        problem = QStringLiteral("no answer within %1 ms").arg(CommandTimeoutMs);
        process.kill();
        process.waitForFinished(1000);
    } else if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        problem = QString::fromLocal8Bit(process.readAll()).trimmed();
        if (problem.isEmpty())
            problem = QStringLiteral("exit code %1").arg(process.exitCode());
    }
    if (problem.isEmpty())
        return true;
    if (error)
        *error = QStringLiteral("ip %1: %2").arg(arguments, problem);
    return false;
}

//! run() for each of \a commands in turn, up to the first that fails.
inline bool runAll(const QStringList &commands, QString *error = nullptr)
{
    for (const QString &command : commands) {
        if (!run(command, error))
            return false;
    }
    return true;
}

/*!
    Deletes the network namespaces whose names match \a ours (its first
    capture is the pid of the test process that made them): this process's
    (\a ownPid) and those of earlier runs that were killed before their
    cleanup. Namespaces of running processes are left alone.
*/
inline void removeNamespaces(const QRegularExpression &ours, qint64 ownPid)
{
    QProcess list;
    list.start(program(), {QStringLiteral("netns"), QStringLiteral("list")});
    if (!list.waitForFinished(CommandTimeoutMs))
        return;
    const QStringList lines = QString::fromLocal8Bit(list.readAllStandardOutput())
                                      .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    for (const QString &line : lines) {
        const QString ns = line.section(QLatin1Char(' '), 0, 0);
        const QRegularExpressionMatch match = ours.match(ns);
        if (!match.hasMatch())
            continue;
        const qint64 pid = match.captured(1).toLongLong();
        if (pid != ownPid && QFileInfo::exists(QStringLiteral("/proc/%1").arg(pid)))
            continue;
        QString error;
        if (run(QStringLiteral("netns del ") + ns, &error)) {
            if (pid != ownPid)
                qInfo().noquote() << "removed leftover network namespace" << ns;
        } else {
            qWarning().noquote() << error;
        }
    }
}

/*!
    The network namespace \a role ('s' server, 'c' client) of the test process
    \a pid: "<prefix>-<role>-<pid>". Each suite has its own \a prefix, so that
    suites run in parallel never share a namespace.
*/
inline QString namespaceName(const QString &prefix, char role, qint64 pid)
{
    return QStringLiteral("%1-%2-%3").arg(prefix, QString(QLatin1Char(role))).arg(pid);
}

//! Removes the namespaces namespaceName(\a prefix, ...) of this process and of killed runs.
inline void removeNamespaces(const QString &prefix)
{
    const QRegularExpression ours(
            QStringLiteral("^%1-[a-z]-(\\d+)$").arg(QRegularExpression::escape(prefix)));
    removeNamespaces(ours, QCoreApplication::applicationPid());
}

//! One end of a veth pair.
struct VethEnd
{
    QString netns;   //!< its network namespace, created by vethLinkCommands(); empty: the host's
    QString device;  //!< its name
    QString address; //!< its IPv4 address with the prefix length, "10.213.7.1/24"
    bool loopbackUp = false; //!< also bring up `lo` in its namespace
};

/*!
    The `ip` commands, for run(), that add the namespaces of \a a and \a b, a
    veth pair between them and their addresses, and bring the links up. The
    ends get the MAC addresses \a macPrefix + ":01" and ":02"
    ("02:13:00:00:07"), and each a permanent neighbour entry for the other: no
    address resolution, whose failure would end a connection differently than
    a silent peer.
*/
inline QStringList vethLinkCommands(const VethEnd &a, const VethEnd &b, const QString &macPrefix)
{
    const VethEnd *ends[] = {&a, &b};
    const QString macs[] = {macPrefix + QStringLiteral(":01"), macPrefix + QStringLiteral(":02")};
    const auto in = [](const VethEnd *end) {
        return end->netns.isEmpty() ? QString() : QStringLiteral("-n %1 ").arg(end->netns);
    };
    const auto placed = [](const VethEnd &end) {
        return end.netns.isEmpty() ? end.device
                                   : QStringLiteral("%1 netns %2").arg(end.device, end.netns);
    };
    QStringList commands;
    for (const VethEnd *end : ends) {
        if (!end->netns.isEmpty())
            commands << QStringLiteral("netns add ") + end->netns;
    }
    commands << QStringLiteral("link add %1 type veth peer name %2").arg(placed(a), placed(b));
    for (int i : {0, 1}) {
        commands << in(ends[i])
                        + QStringLiteral("link set %1 address %2").arg(ends[i]->device, macs[i]);
    }
    for (const VethEnd *end : ends)
        commands << in(end) + QStringLiteral("addr add %1 dev %2").arg(end->address, end->device);
    for (const VethEnd *end : ends) {
        if (end->loopbackUp)
            commands << in(end) + QStringLiteral("link set lo up");
    }
    for (const VethEnd *end : ends)
        commands << in(end) + QStringLiteral("link set %1 up").arg(end->device);
    for (int i : {0, 1}) {
        const VethEnd *other = ends[1 - i];
        commands << in(ends[i])
                        + QStringLiteral("neigh replace %1 lladdr %2 dev %3 nud permanent")
                                  .arg(other->address.section(QLatin1Char('/'), 0, 0), macs[1 - i],
                                       ends[i]->device);
    }
    return commands;
}

//! Why this process cannot build network namespaces (not root, no `ip`); empty if it can.
inline QString namespacesUnavailable()
{
    if (::geteuid() != 0)
        return QStringLiteral("needs root for network namespaces and veth devices");
    if (program().isEmpty())
        return QStringLiteral("needs the `ip` tool (iproute2)");
    return {};
}

} // namespace IpRoute

/*!
    In a test function that builds network namespaces: skips it without root
    or `ip` (fails under CI=true).
*/
#define SKIP_WITHOUT_NAMESPACES()                                                                  \
  do {                                                                                             \
    const QString unavailable = IpRoute::namespacesUnavailable();                                  \
    if (!unavailable.isEmpty())                                                                    \
      SKIP_OR_FAIL_UNDER_CI(unavailable);                                                          \
  } while (false)
