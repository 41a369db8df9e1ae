// Storage behind the LTI core. The DB-backed implementations live in packages/db; the in-memory ones
// here serve tests and single-process development.

/** A platform registration as the core needs it (see @kgrader/schemas LtiPlatformRegistration). */
export interface PlatformRegistration {
  /** storage id */
  id: string;
  issuer: string;
  clientId: string;
  authEndpoint: string;
  tokenEndpoint: string;
  /** `aud` of the client assertion; the token endpoint when absent */
  tokenAudience?: string | undefined;
  jwksUrl: string;
}

/** A deployment of the tool inside a platform (a course, a sub-account, the whole LMS...). */
export interface Deployment {
  registrationId: string;
  deploymentId: string;
  /** the kgrader course the deployment is bound to, when registered per course */
  courseId?: string | undefined;
}

export interface RegistrationStore {
  /** every registration for an issuer, or only the one with that client id */
  findRegistrations(issuer: string, clientId?: string): Promise<PlatformRegistration[]>;
  getRegistration(id: string): Promise<PlatformRegistration | undefined>;
  findDeployment(registrationId: string, deploymentId: string): Promise<Deployment | undefined>;
}

/** What the tool remembers between login initiation and launch, keyed by `state`. */
export interface LoginState {
  registrationId: string;
  nonce: string;
  targetLinkUri: string;
  /** ms since epoch */
  createdAt: number;
}

export interface LoginStateStore {
  put(state: string, value: LoginState, ttlMs: number): Promise<void>;
  /** returns and deletes (one-time); undefined when unknown or expired */
  take(state: string): Promise<LoginState | undefined>;
}

export interface NonceStore {
  /**
   * Records `nonce` as used until `expiresAt` (ms). Returns false when it was already used:
   * the launch is a replay. Must be atomic (DB: INSERT ... ON CONFLICT DO NOTHING).
   */
  consume(nonce: string, expiresAt: number): Promise<boolean>;
}

export class MemoryRegistrationStore implements RegistrationStore {
  readonly registrations = new Map<string, PlatformRegistration>();
  readonly deployments: Deployment[] = [];

  add(reg: PlatformRegistration, deploymentIds: readonly string[] = [], courseId?: string): void {
    this.registrations.set(reg.id, reg);
    for (const deploymentId of deploymentIds) this.deployments.push({ registrationId: reg.id, deploymentId, courseId });
  }

  async findRegistrations(issuer: string, clientId?: string): Promise<PlatformRegistration[]> {
    return [...this.registrations.values()].filter((r) => r.issuer === issuer && (clientId === undefined || r.clientId === clientId));
  }

  async getRegistration(id: string): Promise<PlatformRegistration | undefined> {
    return this.registrations.get(id);
  }

  async findDeployment(registrationId: string, deploymentId: string): Promise<Deployment | undefined> {
    return this.deployments.find((d) => d.registrationId === registrationId && d.deploymentId === deploymentId);
  }
}

export class MemoryLoginStateStore implements LoginStateStore {
  private readonly map = new Map<string, { value: LoginState; expiresAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  async put(state: string, value: LoginState, ttlMs: number): Promise<void> {
    this.map.set(state, { value, expiresAt: this.now() + ttlMs });
  }

  async take(state: string): Promise<LoginState | undefined> {
    const entry = this.map.get(state);
    this.map.delete(state);
    if (!entry || entry.expiresAt <= this.now()) return undefined;
    return entry.value;
  }
}

export class MemoryNonceStore implements NonceStore {
  private readonly used = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  async consume(nonce: string, expiresAt: number): Promise<boolean> {
    const t = this.now();
    for (const [n, exp] of this.used) if (exp <= t) this.used.delete(n);
    if (this.used.has(nonce)) return false;
    this.used.set(nonce, expiresAt);
    return true;
  }
}
