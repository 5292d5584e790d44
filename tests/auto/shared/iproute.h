// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Running iproute2's `ip` from the tests that build network namespaces
// (deadpeernetns, examples). Root only; every command bounded in time.

#include <QtCore/QDebug>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtCore/QString>
#include <QtCore/QStringList>

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

} // namespace IpRoute
