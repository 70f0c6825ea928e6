/**
 * The hand-off point per protection mode. Each mode (portal, S/MIME, OpenPGP, PDF) registers a handler
 * here when it exists; until then a message that asks for it is held in the queue and retried, never
 * sent in the clear.
 */
import type { SealpostRequest, SecuredMode } from '../../../common/src/headers.ts';

export type { SecuredMode } from '../../../common/src/headers.ts';

export interface ProtectionContext {
  messageId: string;
  tenantId: string;
  recipient: string;
  /**
   * The message to protect. From the protect stage it is cleaned: control headers and the subject trigger
   * are already removed, so nothing of them is sealed into the protected copy.
   */
  raw: Buffer;
  /** The sender: envelope and From address (from the protect stage). */
  sender?: { mailFrom: string; from?: string };
  /** The parsed request (mode, expiry, options), which the cleaned message no longer carries. */
  request?: SealpostRequest;
  /** For 'auto': whether encryption is only allowed for this recipient or mandatory (default mandatory). */
  requirement?: 'allow' | 'mandatory';
}

/** The context of one protection for a group of recipients that share a mode and a route. */
export interface GroupProtectionContext extends Omit<ProtectionContext, 'recipient'> {
  recipients: string[];
}

export type ProtectionOutcome =
  /**
   * The protected message to deliver to the recipient instead of the original. It is stored (encrypted at
   * rest) once, and every delivery attempt sends these same bytes; the mode is never asked again.
   */
  | {
      kind: 'deliver';
      raw: Buffer;
      detail: Record<string, unknown>;
      /**
       * Recipients of the group this copy cannot serve (for example S/MIME recipients without a certificate):
       * they are left unavailable with the reason, and the copy serves the others.
       */
      unserved?: { recipients: string[]; reason: string };
    }
  /** The handler took the message over (for example stored it in the portal and queued a notification). */
  | { kind: 'handled'; detail: Record<string, unknown> }
  /** This handler cannot serve this recipient (for example no certificate): try the next way or hold. */
  | { kind: 'unavailable'; reason: string }
  /** The message must go back to the sender with this reason (for example the sender is over quota). */
  | { kind: 'refused'; reason: string; enhancedCode: string };

export interface ProtectionHandler {
  mode: SecuredMode;
  /** Protects the message for one recipient. */
  protect(context: ProtectionContext): Promise<ProtectionOutcome>;
  /**
   * Optional: protects the message once for all recipients of a group (the recipients of one message that
   * ask for this mode and take the same route), for example S/MIME encrypting to every certificate in one
   * envelope. The outcome serves every recipient of the group; a 'deliver' outcome is stored as one copy and
   * sent to recipients that share a destination in one SMTP transaction. Without it, each recipient is
   * protected on its own.
   */
  protectGroup?(context: GroupProtectionContext): Promise<ProtectionOutcome>;
}

export class ProtectionModes {
  private readonly handlers = new Map<SecuredMode, ProtectionHandler>();

  register(handler: ProtectionHandler): void {
    this.handlers.set(handler.mode, handler);
  }

  handlerFor(mode: SecuredMode): ProtectionHandler | undefined {
    return this.handlers.get(mode);
  }

  available(): SecuredMode[] {
    return [...this.handlers.keys()];
  }
}
