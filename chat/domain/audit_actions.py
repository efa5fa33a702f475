"""The audit log's action names: one vocabulary, stored as its string values.

Every entry's ``action`` is one of these (the hash chain stores the string, so a value
is never renamed once written). ``docs/audit.md`` lists the same names;
``tests/unit/test_audit_actions.py`` fails when the two differ.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # Access and sign-in
    ACCESS_REFUSED = "access.refused"
    SESSION_SIGNED_IN = "session.signed_in"
    SESSION_SIGN_IN_FAILED = "session.sign_in_failed"
    SESSION_SIGNED_OUT = "session.signed_out"
    SESSION_PROOF_REFUSED = "session.proof_refused"
    # Devices
    DEVICE_ENROLLMENT_CODE_CREATED = "device.enrollment_code_created"
    DEVICE_ENROLLED = "device.enrolled"
    DEVICE_ENROLL_FAILED = "device.enroll_failed"
    DEVICE_REVOKED = "device.revoked"
    # People and the org chart
    USER_CREATED = "user.created"
    USER_MOVED = "user.moved"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    ORGCHART_DEPARTMENTS_IMPORTED = "orgchart.departments_imported"
    ORGCHART_DEPARTMENT_CREATED = "orgchart.department_created"
    ORGCHART_DEPARTMENT_CHANGED = "orgchart.department_changed"
    MEMBERSHIP_ADDED = "membership.added"
    MEMBERSHIP_REMOVED = "membership.removed"
    # Messages and what hangs on them
    MESSAGE_CREATED = "message.created"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_DELETED = "message.deleted"
    ANNOUNCEMENT_CONFIRMED = "announcement.confirmed"
    ATTACHMENT_UNSENT_REMOVED = "attachment.unsent_removed"
    # The PBX
    PBX_SECRET_CREATED = "pbx.secret_created"
    PBX_SECRET_RETIRED = "pbx.secret_retired"
    PBX_DIRECTORY_IMPORTED = "pbx.directory_imported"
    PBX_EVENTS_BLANKED = "pbx.events_blanked"
    PBX_CALLS_BLANKED = "pbx.calls_blanked"
    NOTICE_CLAIMED = "notice.claimed"
    NOTICE_DONE = "notice.done"
    MEMO_CREATED = "memo.created"
    # The off-hours policy
    POLICY_WORKING_HOURS_SET = "policy.working_hours_set"
    POLICY_OFF_HOURS_ROLES_SET = "policy.off_hours_roles_set"
    POLICY_DISASTER_MODE_ON = "policy.disaster_mode_on"
    POLICY_DISASTER_MODE_OFF = "policy.disaster_mode_off"
    # Disasters and drills (a drill's entries carry drill=true)
    DISASTER_DECLARED = "disaster.declared"
    DISASTER_ENDED = "disaster.ended"
    DISASTER_HQ_MEMBERS_SET = "disaster.hq_members_set"
    # Field reports and the HQ board (a drill's entries carry drill=true)
    REPORT_FILED = "report.filed"
    REPORT_STATUS_CHANGED = "report.status_changed"
    REPORTS_POSITIONS_VIEWED = "reports.positions_viewed"
    HQ_MAP_SET = "hq_map.set"
    # Safety roll calls (安否確認; a drill's carry drill=true)
    ROLLCALL_STARTED = "rollcall.started"
    ROLLCALL_ANSWERED = "rollcall.answered"
    ROLLCALL_REMINDED = "rollcall.reminded"
    ROLLCALL_EXPORTED = "rollcall.exported"
    ROLLCALL_ENDED = "rollcall.ended"
    # Retention and legal holds
    RETENTION_POLICY_SET = "retention.policy_set"
    RETENTION_POLICY_CLEARED = "retention.policy_cleared"
    RETENTION_RUN = "retention.run"
    RETENTION_PURGED = "retention.purged"
    LEGAL_HOLD_PLACED = "legal_hold.placed"
    LEGAL_HOLD_RELEASED = "legal_hold.released"
    # The auditors' own reads (staff can see these: docs/audit.md)
    MESSAGES_READ = "messages.read"
    RECORDS_SEARCHED = "records.searched"
    RECORDS_VIEWED = "records.viewed"
    RECORDS_EXPORT_STARTED = "records.export_started"
    RECORDS_EXPORT_STATUS = "records.export_status"
    RECORDS_EXPORTED = "records.exported"
    RECORDS_EXPORT_FAILED = "records.export_failed"
    RECORDS_EXPORT_DOWNLOADED = "records.export_downloaded"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_LOG_VIEWED = "audit.log_viewed"
    AUDIT_CHECKPOINTED = "audit.checkpointed"
    # Backups of the whole instance (docs/backup.md)
    BACKUP_CREATED = "backup.created"
    BACKUP_RESTORED = "backup.restored"
    # Urgent broadcasts (緊急放送); confirmations are announcement.confirmed
    BROADCAST_SENT = "broadcast.sent"
    BROADCAST_REPEATED = "broadcast.repeated"
    BROADCAST_GROUP_SET = "broadcast.group_set"
