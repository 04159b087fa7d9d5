/**
 * Route matching, as in a Linkerd ServiceProfile: the first route whose condition matches the
 * request names it (for metrics and errors) and supplies its policy — timeout, retryability and
 * response classes — to the layers below. A request that matches no route is on the "default
 * route": ctx.route stays undefined and service-wide settings apply.
 */
import type { HttpModule } from '../http/http-stack.js';
import { compileRequestMatch } from '../policy/request-match.js';
import { RoutesParam } from '../policy/policy-params.js';


export const routeModule: HttpModule = {
  role: 'route',
  description: 'matches the request to a ServiceProfile-style route (method, path regex, headers)',
  params: [RoutesParam],
  make(params, next) {
    const routes = params.get(RoutesParam);
    if (routes.length === 0) return next;
    // Compiled once here, so a request costs predicate calls, never regex compilation.
    const compiled = routes.map((route, i) => ({ route, matches: compileRequestMatch(route.condition, `routes[${i}] ("${route.name}").condition`) }));
    return {
      call(req, ctx) {
        for (const { route, matches } of compiled) {
          if (matches(req)) {
            ctx.route = route.name;
            ctx.routePolicy = route;
            break;
          }
        }
        return next.call(req, ctx);
      },
      close: () => next.close(),
    };
  },
};

