import type { ArmResource, ArmTemplate } from '../../tools/infra/check.ts';

// Reading the ARM JSON the Bicep compiler writes for infra/main.bicep: modules are nested
// deployments (`Microsoft.Resources/deployments`) whose template and parameter values are inline.
// Expressions stay unevaluated (`[parameters('x')]`): these helpers follow the simple ones.

/** The nested deployment of `main.bicep`'s module with that deployment name (`api`, `rbac`, …). */
export function moduleOf(
  template: ArmTemplate,
  name: string,
): { template: ArmTemplate; parameters: Record<string, unknown>; resource: ArmResource } {
  const resource = template.resources.find((r) => r.type === 'Microsoft.Resources/deployments' && r.name === name);
  if (!resource?.properties?.template) throw new Error(`no module deployment named ${name}`);
  const parameters = Object.fromEntries(
    Object.entries(resource.properties.parameters ?? {}).map(([key, { value }]) => [key, value]),
  );
  return { template: resource.properties.template, parameters, resource };
}

/** Every resource of that type in a template (not in its modules). */
export function resourcesOf(template: ArmTemplate, type: string): ArmResource[] {
  return template.resources.filter((r) => r.type === type);
}

/** The one resource of that type in a template. */
export function resourceOf(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOf(template, type);
  if (found.length !== 1) throw new Error(`${found.length} resources of type ${type}, expected one`);
  return found[0]!;
}

/** `module output` when an expression is exactly another module's output, as main.bicep passes them. */
export function moduleOutput(expression: unknown): { module: string; output: string } | undefined {
  const m =
    typeof expression === 'string'
      ? /^\[reference\(.*'Microsoft\.Resources\/deployments', '([\w-]+)'\), '[\d-]+'\)\.outputs\.(\w+)\.value\]$/.exec(
          expression,
        )
      : null;
  return m ? { module: m[1]!, output: m[2]! } : undefined;
}

/** `x` when an expression is exactly `[parameters('x')]`. */
export function parameterName(expression: unknown): string | undefined {
  return typeof expression === 'string' ? /^\[parameters\('(\w+)'\)\]$/.exec(expression)?.[1] : undefined;
}

/** An output of a template: the expression it is set to. */
export function outputOf(template: ArmTemplate, name: string): unknown {
  const output = template.outputs?.[name];
  if (!output) throw new Error(`no output ${name}`);
  return output.value;
}

/** Every resource of a template and of the modules it deploys, with the deployment name of the module it is in. */
export function allResources(
  template: ArmTemplate,
  module?: string,
): { resource: ArmResource; module: string | undefined }[] {
  return template.resources.flatMap((resource) => [
    { resource, module },
    ...(resource.type === 'Microsoft.Resources/deployments' && resource.properties?.template
      ? allResources(resource.properties.template, resource.name)
      : []),
  ]);
}

/**
 * The value an expression of `main`'s module `module` (or of `main` itself) has in the default deployment, as far as
 * the template alone tells it: literals, `parameters('x')` (the module's parameter as main passes it, main's own at its
 * default), `not(…)`, `empty(…)`. Undefined for anything else (only a deployment knows it).
 */
export function valueByDefault(main: ArmTemplate, module: string | undefined, expression: unknown): unknown {
  if (typeof expression !== 'string' || !expression.startsWith('[')) return expression;
  return evaluate(main, module, expression.slice(1, -1).trim());
}

function evaluate(main: ArmTemplate, module: string | undefined, text: string): unknown {
  const call = /^(\w+)\((.*)\)$/s.exec(text);
  if (!call) return /^'(.*)'$/.exec(text)?.[1] ?? ({ true: true, false: false } as Record<string, unknown>)[text];
  const [, name, argument] = call;
  if (name === 'parameters') {
    const parameter = /^'(\w+)'$/.exec(argument!.trim())?.[1];
    if (!parameter) return undefined;
    if (module === undefined) return main.parameters[parameter]?.defaultValue;
    const passed = moduleOf(main, module).parameters[parameter];
    return passed === undefined
      ? moduleOf(main, module).template.parameters[parameter]?.defaultValue
      : valueByDefault(main, undefined, passed);
  }
  const inner = evaluate(main, module, argument!.trim());
  if (inner === undefined) return undefined;
  if (name === 'not') return typeof inner === 'boolean' ? !inner : undefined;
  if (name === 'empty') return typeof inner === 'string' || Array.isArray(inner) ? inner.length === 0 : undefined;
  return undefined;
}
