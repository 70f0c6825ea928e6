/**
 * Errors as RFC 9457 problem documents: a title, the status and what to do about it. Every Fastify
 * instance of the gateway (the main listener and the metrics listener) is made by `problemAnsweringServer`,
 * so one error handler answers for all of them; an audience that names its own problems (the portal)
 * passes them to `problemErrorHandlerFor`, which is the same handler.
 */
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../logger.ts';
import { PortalProblemError } from '../portal/portal-problems.ts';

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
}

export function sendProblem(reply: FastifyReply, problem: Problem) {
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send({ type: problem.type ?? 'about:blank', ...problem });
}

/** The problems an audience answers in its own terms; the rest are answered the same way everywhere. */
export interface AudienceProblems {
  /** A request that failed its schema. */
  invalid?: (detail: string) => Problem;
  /** A multipart body over one of its limits (size, files, parts, fields). */
  tooLarge?: () => Problem;
}

const MULTIPART_LIMITS = new Set(['FST_REQ_FILE_TOO_LARGE', 'FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);

/** The error handler, with an audience's own problems where it has them. */
export function problemErrorHandlerFor(audience: AudienceProblems = {}) {
  return function problemErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    // Services throw the problem they mean (with headers such as Retry-After); it is sent as it is.
    if (error instanceof PortalProblemError) {
      reply.headers(error.headers);
      return sendProblem(reply, error.problem);
    }
    if (audience.tooLarge && MULTIPART_LIMITS.has((error as { code?: string }).code ?? '')) {
      return sendProblem(reply, audience.tooLarge());
    }
    if (error.validation) {
      return sendProblem(reply, audience.invalid?.(error.message) ?? { status: 400, title: 'The request is not valid', detail: error.message });
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, {
      status,
      title: status >= 500 ? 'Internal error' : error.message,
      detail: status >= 500 ? 'The error was logged; please try again or contact the administrator.' : undefined,
    });
  };
}

export const problemErrorHandler = problemErrorHandlerFor();

/** A Fastify instance whose errors are answered as problem documents; every listener is made here. */
export function problemAnsweringServer(options: { loggerInstance: Logger; bodyLimit: number; routerOptions?: { maxParamLength: number } }) {
  const app = Fastify(options);
  app.setErrorHandler(problemErrorHandler);
  return app;
}
