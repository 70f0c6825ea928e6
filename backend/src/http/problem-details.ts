/** Errors as RFC 9457 problem documents: a title, the status and what to do about it. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

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

export function problemErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.validation) {
    return sendProblem(reply, { status: 400, title: 'The request is not valid', detail: error.message });
  }
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  return sendProblem(reply, {
    status,
    title: status >= 500 ? 'Internal error' : error.message,
    detail: status >= 500 ? 'The error was logged; please try again or contact the administrator.' : undefined,
  });
}
