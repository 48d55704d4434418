-- total_acessos must be exact without a COUNT(*) per request, whose cost grows
-- with the table. Triggers keep a running count for every writer (including the
-- older service, or someone deleting rows by hand). The count is spread over 32
-- slots, picked by backend pid, so concurrent inserts from different pool
-- connections do not queue on one row lock; readers add the slots up.
CREATE TABLE acessos_contagem (
  slot SMALLINT PRIMARY KEY,
  total BIGINT NOT NULL
);

-- No insert may land between counting the existing rows and installing the
-- triggers, or the count would be off by those rows forever.
LOCK TABLE acessos IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO acessos_contagem (slot, total)
SELECT slot, CASE WHEN slot = 0 THEN (SELECT count(*) FROM acessos) ELSE 0 END
FROM generate_series(0, 31) AS slot;

CREATE FUNCTION acessos_contar_insercoes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE acessos_contagem SET total = total + (SELECT count(*) FROM novas)
  WHERE slot = pg_backend_pid() % 32;
  RETURN NULL;
END
$$;

CREATE FUNCTION acessos_contar_remocoes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE acessos_contagem SET total = total - (SELECT count(*) FROM removidas)
  WHERE slot = pg_backend_pid() % 32;
  RETURN NULL;
END
$$;

CREATE FUNCTION acessos_zerar_contagem() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE acessos_contagem SET total = 0;
  RETURN NULL;
END
$$;

-- Statement-level with transition tables: a bulk insert costs one counter update.
CREATE TRIGGER acessos_contar_insercoes AFTER INSERT ON acessos
REFERENCING NEW TABLE AS novas FOR EACH STATEMENT EXECUTE FUNCTION acessos_contar_insercoes();

CREATE TRIGGER acessos_contar_remocoes AFTER DELETE ON acessos
REFERENCING OLD TABLE AS removidas FOR EACH STATEMENT EXECUTE FUNCTION acessos_contar_remocoes();

CREATE TRIGGER acessos_zerar_contagem AFTER TRUNCATE ON acessos
FOR EACH STATEMENT EXECUTE FUNCTION acessos_zerar_contagem();
