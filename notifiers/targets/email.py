"""Email over SMTP, with STARTTLS and AUTH, one message per group of events.

Delivery is at least once: every message carries a ``Message-ID`` derived from its delivery key
(and ``X-Dockyard-Delivery``), so a repeat after a crash is recognisable and many mail systems
drop it. Server answers are included in errors only after redaction, since some servers echo
what they were sent.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formatdate

from notifiers import format as fmt
from notifiers.secrets import Redactor
from notifiers.settings import SmtpSettings
from notifiers.targets.base import DeliveryError, Job, SendResult


def _message_id(material: str, domain: str) -> str:
    return f"<{hashlib.sha256(material.encode()).hexdigest()[:32]}.dockyard@{domain}>"


class EmailSender:
    batches = True

    def __init__(self, smtp: SmtpSettings | None, redactor: Redactor, *, commit_url: str | None) -> None:
        self._smtp = smtp
        self._redactor = redactor
        self._commit_url = commit_url
        if smtp is not None:
            redactor.add(smtp.password)

    def build(self, job: Job) -> EmailMessage:
        smtp = self._smtp
        assert smtp is not None
        events = [d.event for d in job.deliveries]
        subject, body = fmt.text_message(
            events, commit_url=self._commit_url, repeats=[d.repeat for d in job.deliveries]
        )
        domain = smtp.sender.rpartition("@")[2] or "dockyard.invalid"
        msg = EmailMessage()
        msg["From"] = smtp.sender
        msg["To"] = ", ".join(job.first.target.to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(events[0].time) if events else formatdate()
        msg["Message-ID"] = _message_id(job.first.key, domain)
        group = job.first.event.group
        if group:
            # Mail clients thread a cycle's follow-up mails under one root.
            root = _message_id(f"group:{job.first.target_key}:{group}", domain)
            msg["In-Reply-To"] = root
            msg["References"] = root
        msg["X-Dockyard-Delivery"] = ",".join(d.key for d in job.deliveries)
        msg.set_content(body)
        return msg

    def send(self, job: Job) -> SendResult:
        smtp = self._smtp
        if smtp is None:
            raise DeliveryError("email: no SMTP server configured (DOCKYARD_SMTP_HOST)", permanent=True)
        if not job.first.target.to:
            raise DeliveryError("email: the target has no recipients", permanent=True)
        msg = self.build(job)
        stage = "connect"
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                stage = "EHLO"
                client.ehlo()
                if smtp.starttls:
                    stage = "STARTTLS"
                    context = ssl.create_default_context(cafile=smtp.ca_file)
                    client.starttls(context=context)
                    client.ehlo()
                if smtp.user:
                    stage = "AUTH"
                    client.login(smtp.user, smtp.password or "")
                stage = "send"
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(f"email: all {len(e.recipients)} recipients refused", permanent=True) from e
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"email: SMTP authentication failed ({e.smtp_code})") from e
        except smtplib.SMTPResponseException as e:
            text = self._server_text(e.smtp_error)
            permanent = 500 <= e.smtp_code < 600 and stage == "send"
            raise DeliveryError(
                f"email: SMTP {e.smtp_code} during {stage}: {text}",
                permanent=permanent,
                maybe_delivered=stage == "send" and not permanent,
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"email: the server does not support {stage}") from e
        except smtplib.SMTPServerDisconnected as e:
            raise DeliveryError(f"email: server disconnected during {stage}", maybe_delivered=stage == "send") from e
        except ssl.SSLError as e:
            raise DeliveryError(f"email: TLS failed during {stage} ({e.reason or type(e).__name__})") from e
        except ConnectionRefusedError as e:
            raise DeliveryError("email: SMTP connection refused") from e
        except TimeoutError as e:
            raise DeliveryError(f"email: SMTP timeout during {stage}", maybe_delivered=stage == "send") from e
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(
                f"email: SMTP failed during {stage} ({type(e).__name__})", maybe_delivered=stage == "send"
            ) from e
        return SendResult({"message_id": msg["Message-ID"], "refused": sorted(refused)})

    def _server_text(self, raw: bytes | str) -> str:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return fmt.clip(self._redactor.redact(" ".join(text.split())), 200)
